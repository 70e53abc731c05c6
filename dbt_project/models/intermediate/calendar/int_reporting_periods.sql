{#- The board's reporting periods (one home: every period mart reads them), each tied to the quarter it is reported
    in: the financial quarter, the rolling 12 months to the quarter end (the dashboard's "current" value) and the
    financial year (reported at its Q4). -#}
with

quarters as (

    select distinct financial_quarter_label, financial_year, quarter_start, quarter_end
    from {{ ref('dim_date') }}

)

select 'quarter' as period_type, financial_quarter_label as period_label, financial_quarter_label as reporting_quarter,
    quarter_start as period_start, quarter_end as period_end, 3 as period_months
from quarters
union all
select 'rolling_12_months', 'R12 to ' || financial_quarter_label, financial_quarter_label,
    (quarter_end + interval '1 day' - interval '12 months')::date, quarter_end, 12
from quarters
union all
select 'financial_year', financial_year, max(financial_quarter_label), min(quarter_start), max(quarter_end), 12
from quarters
group by financial_year
