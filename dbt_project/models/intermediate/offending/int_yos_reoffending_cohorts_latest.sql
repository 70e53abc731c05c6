{#- Each tracking cohort as of the latest extract that lists it (cohorts are tracked for 12 months from their
    start): members and their proven reoffences to that extract month's end. -#}
with

cohort_rows as (

    select * from {{ ref('stg_yos__reoffending_cohort') }}

),

latest as (

    select
        *,
        max(extract_month_start) over (partition by cohort_quarter_label) as as_of_month_start
    from cohort_rows

)

select
    latest.cohort_quarter_label,
    latest.child_pseudonym,
    latest.district_code,
    latest.cohort_entry_date,
    latest.reoffences_to_date,
    latest.as_of_month_start,
    (latest.as_of_month_start + interval '1 month - 1 day')::date as as_of_date,
    dim_date.quarter_start as cohort_start,
    dim_date.quarter_end as cohort_end,
    latest.as_of_month_start >= (dim_date.quarter_start + interval '11 months')::date as is_tracking_complete,
    latest.is_restated
from latest
inner join {{ ref('dim_date') }} as dim_date
    on dim_date.financial_quarter_label = latest.cohort_quarter_label
    and dim_date.month_start = dim_date.quarter_start
where latest.extract_month_start = latest.as_of_month_start
