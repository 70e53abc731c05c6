{{ config(materialized='view') }}
{#- What each published board report showed, figure by figure (a view on the as-reported ledger). -#}
select
    reports.report_id,
    reports.quarter,
    reports.published_at,
    coalesce(reports.report_date, reports.published_at::date) as reported_on,
    reports.source_document,
    figures.indicator_id,
    figures.geography_code,
    figures.period_type,
    figures.period_label,
    figures.value,
    figures.decimals,
    figures.source_line
from {{ source('audit', 'reported_figures') }} as figures
inner join {{ source('audit', 'reports') }} as reports using (report_id)
