{#- Month grain calendar with the financial year (April to March) and quarter the board reports by. -#}
with

months as (

    select generate_series(
        '{{ var("calendar_start") }}'::date, '{{ var("calendar_end") }}'::date, interval '1 month'
    )::date as month_start

),

dated as (

    select
        month_start,
        {{ financial_year_start('month_start') }} as financial_year_start
    from months

)

select
    month_start,
    (month_start + interval '1 month - 1 day')::date as month_end,
    to_char(month_start, 'YYYY-MM') as month_label,
    extract(year from month_start)::int as calendar_year,
    extract(month from month_start)::int as month_of_year,
    financial_year_start,
    financial_year_start || '-' || lpad(((financial_year_start + 1) % 100)::text, 2, '0') as financial_year,
    ((extract(month from month_start)::int + 8) % 12) / 3 + 1 as financial_quarter,
    financial_year_start || '-' || lpad(((financial_year_start + 1) % 100)::text, 2, '0')
        || 'Q' || (((extract(month from month_start)::int + 8) % 12) / 3 + 1) as financial_quarter_label,
    date_trunc('quarter', month_start)::date as quarter_start,
    (date_trunc('quarter', month_start) + interval '3 months - 1 day')::date as quarter_end

from dated
