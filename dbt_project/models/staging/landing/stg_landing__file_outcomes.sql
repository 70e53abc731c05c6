{#- Every file received and how it was decided, with the dates its name's period covers (a day as Storm names it,
    a month, or a financial quarter such as 2021-22Q2), so a figure can say which of its files were not loaded. -#}
with

source as (

    select * from {{ source('landing', 'file_manifest') }}

),

periods as (

    select
        *,
        case
            when period ~ '^\d{8}$' then 'day'
            when period ~ '^\d{4}-\d{2}$' then 'month'
            when period ~ '^\d{4}-\d{2}Q[1-4]$' then 'quarter'
        end as period_grain,
        case
            when period ~ '^\d{8}$' then to_date(period, 'YYYYMMDD')
            when period ~ '^\d{4}-\d{2}$' then to_date(period, 'YYYY-MM')
            -- financial quarters: Q1 starts in April of the year the label begins
            when period ~ '^\d{4}-\d{2}Q[1-4]$' then
                (make_date(left(period, 4)::int, 4, 1)
                 + ((right(period, 1)::int - 1) * interval '3 months'))::date
        end as period_start
    from source

)

select
    file_id,
    feed,
    entity,
    stream,
    period,
    period_grain,
    period_start,
    case period_grain
        when 'day' then period_start
        when 'month' then (period_start + interval '1 month')::date - 1
        when 'quarter' then (period_start + interval '3 months')::date - 1
    end as period_end,
    file_name,
    outcome,
    rows as row_count,
    content_hash,
    received_at,
    last_received_at,
    times_received,
    accepted_at
from periods
