{#- The UAVA return per geography (each district, and the county as their sum), financial quarter and service, with
    'All services' added; provider period from configuration and the layout the quarter arrived in. A quarter whose
    provider period (configuration) differs from the quarter before's, or whose layout differs from the previous
    loaded quarter's, is a series break. -#}
with

returns as (

    select * from {{ ref('stg_uava_return__district_services') }}

),

geographies as (

    {{ partnership_kpi_geographies() }}

),

provider_periods as (

    {% for p in var('uava_provider_periods') %}
    select '{{ p.provider_period }}'::text as provider_period, '{{ p.starts_on }}'::date as starts_on
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

quarters as (

    select
        returns.financial_quarter_label,
        min(dim_date.quarter_start) as quarter_start,
        min(dim_date.quarter_end) as quarter_end,
        min(returns.layout_version) as layout_version,
        bool_or(returns.is_restated) as is_restated
    from returns
    inner join {{ ref('dim_date') }} as dim_date using (financial_quarter_label)
    group by returns.financial_quarter_label

),

quarters_with_provider as (

    select
        quarters.*,
        (select p.provider_period from provider_periods as p where p.starts_on <= quarters.quarter_start
          order by p.starts_on desc limit 1) as provider_period,
        (select p.provider_period from provider_periods as p
          where p.starts_on <= (quarters.quarter_start - interval '3 months')::date
          order by p.starts_on desc limit 1) as previous_quarter_provider_period
    from quarters

),

series as (

    select
        *,
        (provider_period is distinct from previous_quarter_provider_period)
            or coalesce(layout_version <> lag(layout_version) over (order by quarter_start), false) as series_break
    from quarters_with_provider

),

by_service as (

    select financial_quarter_label, district_code, service, referrals, repeat_referrals, engaged, helpline_calls,
        waiting_numbers, waiting_total_days, is_estimated
    from returns
    union all
    select financial_quarter_label, district_code, 'All services', sum(referrals), sum(repeat_referrals),
        sum(engaged), sum(helpline_calls), sum(waiting_numbers), sum(waiting_total_days), bool_or(is_estimated)
    from returns
    group by financial_quarter_label, district_code

),

rolled_up as (

    select
        geographies.geography_code,
        by_service.financial_quarter_label,
        by_service.service,
        count(distinct by_service.district_code) as districts_reporting,
        sum(by_service.referrals)::bigint as referrals,
        sum(by_service.repeat_referrals)::bigint as repeat_referrals,
        sum(by_service.engaged)::bigint as engaged,
        sum(by_service.helpline_calls)::bigint as helpline_calls,
        sum(by_service.waiting_numbers)::bigint as waiting_numbers,
        sum(by_service.waiting_total_days)::bigint as waiting_total_days,
        bool_or(by_service.is_estimated) as is_estimated
    from geographies
    inner join by_service on by_service.district_code = geographies.local_authority_code
    group by geographies.geography_code, by_service.financial_quarter_label, by_service.service

)

select
    rolled_up.*,
    series.quarter_start,
    series.quarter_end,
    series.layout_version,
    series.provider_period,
    series.series_break,
    series.is_restated
from rolled_up
inner join series using (financial_quarter_label)
