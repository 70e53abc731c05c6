{#- The domestic abuse KPIs, one row per indicator, geography, period and breakdown, each with its value,
    numerator and denominator and the flags the board asked for: estimated figures, series breaks (UAVA provider
    period or return layout; the MARAC repeat definition), restated periods, the SafeLives band, and small district
    counts suppressed. UAVA and MARAC report the county's districts, so figures are by district and for the county.

    UAVA (quarterly return; by service and 'All services'): referrals (also by financial year), repeat referrals
    and helpline calls per 10,000 adult females (estimated population), helpline calls, waiting list numbers, total
    days and average wait (total days / numbers), engagement rate against its target.
    MARAC: cases heard, and the repeat rate (repeats / cases heard) by quarter and rolling 12 months to each quarter
    end, against the SafeLives band. -#}
with

uava as (

    select
        uava.*,
        population.adult_female_population,
        population.is_estimate as population_is_estimated
    from {{ ref('int_uava_returns_rolled_up') }} as uava
    inner join {{ ref('int_adult_female_population_by_geography_year') }} as population
        on population.geography_code = uava.geography_code
        and population.year = extract(year from uava.quarter_end)::int

),

uava_years as (

    select
        uava.geography_code,
        uava.service,
        dim_date.financial_year,
        make_date(dim_date.financial_year_start, 4, 1) as period_start,
        make_date(dim_date.financial_year_start + 1, 3, 31) as period_end,
        count(*) as quarters_covered,
        sum(uava.referrals) as referrals,
        bool_or(uava.is_estimated) as is_estimated,
        count(distinct uava.provider_period) > 1 or count(distinct uava.layout_version) > 1 as series_break,
        string_agg(distinct uava.provider_period, ' + ') as provider_period,
        string_agg(distinct uava.layout_version, ' + ') as layout_version,
        bool_or(uava.is_restated) as is_restated
    from uava
    inner join {{ ref('dim_date') }} as dim_date on dim_date.month_start = uava.quarter_start
    group by uava.geography_code, uava.service, dim_date.financial_year, dim_date.financial_year_start

),

uava_kpis as (

    {%- set uava_measures = [
        ('uava_referrals', 'Referrals to domestic abuse support services (adults)', 'count',
         'referrals', 'null', 'null', 'referrals', 'referrals', 'false'),
        ('uava_repeat_referrals_per_10k_adult_females', 'Repeat referrals per 10,000 adult females',
         'per 10,000 adult females', 'repeat_referrals', 'adult_female_population', "'population'",
         'round(repeat_referrals * 10000.0 / adult_female_population, 4)', 'repeat_referrals', 'true'),
        ('uava_engagement_rate', 'Engagement rate (clients engaged / referrals)', 'percent',
         'engaged', 'referrals', "'count'", 'round(100.0 * engaged / nullif(referrals, 0), 2)',
         'least(engaged, referrals)', 'false'),
        ('uava_waiting_numbers', 'People on the waiting list at the quarter end', 'count',
         'waiting_numbers', 'null', 'null', 'waiting_numbers', 'waiting_numbers', 'false'),
        ('uava_waiting_total_days', 'Total days waited by the people on the waiting list', 'days',
         'waiting_total_days', 'null', 'null', 'waiting_total_days', 'waiting_numbers', 'false'),
        ('uava_average_wait_days', 'Average wait (total days waited / numbers waiting)', 'days',
         'waiting_total_days', 'waiting_numbers', "'count'",
         'round(waiting_total_days::numeric / nullif(waiting_numbers, 0), 2)', 'waiting_numbers', 'false'),
    ] %}
    {%- for code, name, unit, numerator, denominator, kind, value, suppress_on, uses_population in uava_measures %}
    select
        '{{ code }}'::text as kpi_code, '{{ name }}'::text as kpi_name, 'uava_return'::text as source_feed,
        '{{ unit }}'::text as unit, geography_code, 'quarter'::text as period_type,
        financial_quarter_label as period_label, quarter_start as period_start, quarter_end as period_end,
        'service'::text as breakdown_type, service as breakdown_value,
        ({{ numerator }})::numeric as numerator, ({{ denominator }})::numeric as denominator,
        ({{ kind }})::text as denominator_kind, ({{ value }})::numeric as value,
        {% if code == 'uava_engagement_rate' -%}
            {{ var('uava_engagement_target_pct') }}::numeric
        {%- else %}null::numeric{% endif %} as comparator_value,
        {% if code == 'uava_engagement_rate' %}'target'{% else %}null{% endif %}::text as comparator_label,
        null::numeric as band_lower, null::numeric as band_upper, null::date as as_of_date, true as is_complete,
        {% if uses_population == 'true' %}(is_estimated or population_is_estimated) as {% endif %}is_estimated,
        false as is_indicative, series_break, provider_period, layout_version, null::text as definition_version,
        is_restated, ({{ suppress_on }})::numeric as suppress_on
    from uava
    union all
    {%- endfor %}
    {%- for code, name, unit, numerator, denominator, kind, value, uses_population in [
        ('uava_helpline_calls', 'Helpline calls', 'count', 'helpline_calls', 'null', 'null', 'helpline_calls',
         'false'),
        ('uava_helpline_calls_per_10k_adult_females', 'Helpline calls per 10,000 adult females',
         'per 10,000 adult females', 'helpline_calls', 'adult_female_population', "'population'",
         'round(helpline_calls * 10000.0 / adult_female_population, 4)', 'true'),
    ] %}
    select
        '{{ code }}', '{{ name }}', 'uava_return', '{{ unit }}', geography_code, 'quarter', financial_quarter_label,
        quarter_start, quarter_end, 'all', 'All services', ({{ numerator }})::numeric, ({{ denominator }})::numeric,
        ({{ kind }})::text, ({{ value }})::numeric, null, null, null, null, null, true,
        is_estimated{% if uses_population == 'true' %} or population_is_estimated{% endif %}, false, series_break,
        provider_period, layout_version, null, is_restated, helpline_calls::numeric
    from uava
    where service = 'All services'
    union all
    {%- endfor %}
    select
        'uava_referrals', 'Referrals to domestic abuse support services (adults)', 'uava_return', 'count',
        geography_code, 'financial_year', financial_year, period_start, period_end, 'service', service,
        referrals::numeric, null, null, referrals::numeric, null, null, null, null, null, quarters_covered = 4,
        is_estimated, false, series_break, provider_period, layout_version, null, is_restated, referrals::numeric
    from uava_years

),

cases as (

    select * from {{ ref('int_marac_cases_classified') }}

),

geographies as (

    {{ partnership_kpi_geographies() }}

),

loaded_months as (

    select distinct month_start from cases

),

quarters as (

    select distinct financial_quarter_label, quarter_start, quarter_end
    from {{ ref('dim_date') }}
    where month_start in (select month_start from loaded_months)

),

periods as (

    select period_type, period_label, period_start, period_end, period_months
    from {{ ref('int_reporting_periods') }}
    where period_type in ('quarter', 'rolling_12_months')
      and reporting_quarter in (select financial_quarter_label from quarters)

),

marac_periods as (

    select
        geographies.geography_code,
        periods.period_type,
        periods.period_label,
        periods.period_start,
        periods.period_end,
        (select count(*) from loaded_months as l
          where l.month_start between periods.period_start and periods.period_end) = periods.period_months
            as is_complete,
        count(*) as cases_heard,
        count(*) filter (where cases.is_repeat) as repeats,
        count(distinct cases.definition_version) as definitions,
        min(cases.definition_version) as first_definition,
        bool_or(cases.is_restated) as is_restated
    from periods
    inner join cases on cases.conference_date between periods.period_start and periods.period_end
    inner join geographies on geographies.local_authority_code = cases.district_code
    group by geographies.geography_code, periods.period_type, periods.period_label, periods.period_start,
        periods.period_end, periods.period_months

),

marac_series as (

    select
        *,
        case when definitions > 1 then 'mixed: violence_or_threat_as_recorded then any_instance_within_12_months'
             else first_definition end as definition_version,
        definitions > 1 or coalesce(first_definition <> lag(first_definition) over (
            partition by geography_code, period_type order by period_end), false) as series_break
    from marac_periods

),

marac_kpis as (

    select
        'marac_repeat_rate', '% of cases heard at MARAC that are repeats', 'marac', 'percent', geography_code,
        period_type, period_label, period_start, period_end, 'all', 'All cases', repeats::numeric,
        cases_heard::numeric, 'count', round(100.0 * repeats / cases_heard, 2), null::numeric,
        'SafeLives recommended range', {{ var('marac_repeat_band_lower_pct') }}::numeric,
        {{ var('marac_repeat_band_upper_pct') }}::numeric, null::date, is_complete, false, false, series_break,
        null, null, definition_version, is_restated, least(repeats, cases_heard)::numeric
    from marac_series
    union all
    select
        'marac_cases_heard', 'Cases heard at MARAC', 'marac', 'count', geography_code, period_type, period_label,
        period_start, period_end, 'all', 'All cases', cases_heard::numeric, null, null, cases_heard::numeric, null,
        null, null, null, null, is_complete, false, false, series_break, null, null, definition_version, is_restated,
        cases_heard::numeric
    from marac_series
    where period_type = 'quarter'

),

kpis as (

    select * from uava_kpis
    union all
    select * from marac_kpis

)

{#- Indicators that publish the same count are withheld together: referrals are also the engagement rate's
    denominator; waiting numbers are the average wait's denominator; helpline calls are also a rate. -#}
{{ suppress_small_counts('kpis',
    families={'uava_engagement_rate': 'uava_referrals', 'uava_waiting_total_days': 'uava_waiting_numbers',
              'uava_average_wait_days': 'uava_waiting_numbers',
              'uava_helpline_calls_per_10k_adult_females': 'uava_helpline_calls'},
    totals=['All services'], partitions=['service']) }}
