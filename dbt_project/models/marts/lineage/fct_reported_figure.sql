{{ config(materialized='view') }}
{#- What each published board report showed, figure by figure (a view on the as-reported ledger). -#}
select
    reports.report_id,
    reports.quarter,
    reports.published_at,
    figures.indicator_id,
    figures.geography_code,
    figures.period_type,
    figures.period_label,
    figures.value
from {{ source('audit', 'reported_figures') }} as figures
inner join {{ source('audit', 'reports') }} as reports using (report_id)
