{#- The KPI mart is generated from the indicator catalogue (sources/reference/indicators.yml), which cspwh passes
    to dbt as var('indicators'). Only active indicators are compiled: a pending one names a mart that may not exist. -#}

{% macro active_indicators() -%}
    {{ return(var('indicators', []) | selectattr('status', 'equalto', 'active') | list) }}
{%- endmacro %}

{% macro sql_string(value) -%}
    {%- if value is none -%} null {%- else -%} '{{ (value | string) | replace("'", "''") }}' {%- endif -%}
{%- endmacro %}

{#- One indicator's numerator, denominator and value per geography and reporting period. A month-grain source mart
    (the default) has one row per geography and month; a period-grain source (grain: period, e.g. the domestic abuse
    and offending KPI marts) has one row per geography and period (a quarter, a tracking cohort, a financial year),
    picked by kpi_code, period_types and the total's breakdown_value. Either way the numerator is summed over the source rows inside
    the reporting period; a population denominator is taken at the latest row (denominator_aggregation: last), a
    cohort denominator is summed (sum); months_covered counts the months those rows span. A period-grain row the
    source suppressed (numerator null) or marks incomplete does not count as covered, and the source's series break and suppression
    flags are carried. -#}
{% macro kpi_indicator_values(indicator) -%}
    {%- set source = indicator.source -%}
    {%- set by_period = source.grain == 'period' -%}
    select
        {{ sql_string(indicator.id) }}::text as indicator_id,
        src.geography_code::text as geography_code,
        src.geography_level::text as geography_level,
        periods.period_type,
        periods.period_label,
        periods.reporting_quarter,
        periods.period_start,
        periods.period_end,
        periods.period_months,
        {% if by_period -%}
        coalesce(sum(src._kpi_months) filter (where src.numerator is not null and src.is_complete), 0)::int
        {%- else -%}
        count(distinct src._kpi_month)::int
        {%- endif %} as months_covered,
        sum({{ source.numerator }})::numeric as numerator,
        {% if source.denominator and source.denominator_aggregation == 'sum' -%}
        sum({{ source.denominator }})::numeric
        {%- elif source.denominator -%}
        (array_agg(({{ source.denominator }})::numeric order by src._kpi_month desc))[1]
        {%- else -%}
        null::numeric
        {%- endif %} as denominator,
        {{ source.multiplier }}::numeric as multiplier,
        {% if source.estimated -%} coalesce(bool_or({{ source.estimated }}), false) {%- else -%} false {%- endif %}
            as is_estimated,
        {% if by_period -%} coalesce(bool_or(src.series_break), false) {%- else -%} false {%- endif %}
            as source_series_break,
        {% if by_period -%} coalesce(bool_or(src.is_suppressed), false) {%- else -%} false {%- endif %}
            as source_suppressed,
        {% if by_period -%} coalesce(bool_and(src.is_secondary_suppression) filter (where src.is_suppressed), false)
        {%- else -%} false {%- endif %} as source_secondary_suppression
    from (
        select *,
            {% if by_period -%}
            period_start as _kpi_month,
            ((extract(year from age(period_end + 1, period_start)) * 12)
                + extract(month from age(period_end + 1, period_start)))::int as _kpi_months
            {%- else -%}
            {{ source.month_column }} as _kpi_month
            {%- endif %}
        from {{ ref(source.model) }}
        where {{ kpi_source_rows(source) }}
          {% if by_period -%}
          and kpi_code = {{ sql_string(source.kpi_code) }}
          and period_type in ({% for t in source.period_types %}{{ sql_string(t) }}{{ ", " if not loop.last }}{% endfor %})
          and breakdown_value = {{ sql_string(source.breakdown_value) }}
          {%- endif %}
    ) as src
    inner join (
        select period_type, period_label, reporting_quarter, period_start, period_end, period_months
        from {{ ref('int_reporting_periods') }}
        {%- if 'year_to_date' in (source.period_types or []) %}
        union all
        -- a year-to-date source (first-time entrants, the YOS's "yearly cumulative" count) is also reported to
        -- each quarter end
        select 'year_to_date', 'YTD to ' || reporting_quarter, reporting_quarter,
               make_date(left(reporting_quarter, 4)::int, 4, 1), period_end, right(reporting_quarter, 1)::int * 3
        from {{ ref('int_reporting_periods') }}
        where period_type = 'quarter'
        {%- endif %}
    ) as periods
        {% if source.exact_period -%}
        -- cumulative source rows must not be summed: each reporting period takes the one row spanning it exactly
        on src.period_start = periods.period_start and src.period_end = periods.period_end
        {%- else -%}
        on src._kpi_month between periods.period_start and periods.period_end
        {% if by_period %}and src.period_end <= periods.period_end{% endif %}
        {%- endif %}
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9
{%- endmacro %}

{#- The source rows an indicator reads: its filter, at the geography levels it computes. -#}
{% macro kpi_source_rows(source) -%}
    ({{ source.filter or 'true' }})
    and geography_level in ({% for level in source.geography_levels %}{{ sql_string(level) }}{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{#- A month-grain indicator's numerator and denominator per geography and month, over the same source rows as
    kpi_indicator_values: what a period is compared on when its previous period is only partly covered. -#}
{% macro kpi_indicator_months(indicator) -%}
    {%- set source = indicator.source -%}
    select
        {{ sql_string(indicator.id) }}::text as indicator_id,
        src.geography_code::text as geography_code,
        src.{{ source.month_column }}::date as month_start,
        sum({{ source.numerator }})::numeric as numerator,
        {% if source.denominator and source.denominator_aggregation == 'sum' -%}
        sum({{ source.denominator }})::numeric
        {%- elif source.denominator -%}
        max(({{ source.denominator }})::numeric)
        {%- else -%}
        null::numeric
        {%- endif %} as denominator,
        {{ sql_string(source.denominator_aggregation if source.denominator else none) }}::text
            as denominator_aggregation,
        {{ source.multiplier }}::numeric as multiplier
    from {{ ref(source.model) }} as src
    where {{ kpi_source_rows(source) }}
    group by 1, 2, 3
{%- endmacro %}

{#- The same indicator per police force (the partnership's and its peers'), for the peer rank. -#}
{% macro kpi_peer_values(indicator) -%}
    {%- set peer = indicator.peer -%}
    select
        {{ sql_string(indicator.id) }}::text as indicator_id,
        src.force_slug,
        src.force_name,
        periods.period_type,
        periods.period_label,
        periods.period_months,
        count(distinct src.month_start)::int as months_covered,
        sum({{ peer.numerator or 'incident_count' }})::numeric as numerator,
        (array_agg(({{ peer.denominator or 'population_mid_year' }})::numeric order by src.month_start desc))[1]
            as denominator,
        {{ peer.multiplier or indicator.source.multiplier }}::numeric as multiplier,
        bool_and(src.in_comparison_group) as in_comparison_group,
        bool_and(src.in_region) as in_region
    from (select * from {{ ref(peer.model) }} where ({{ peer.filter or 'true' }})) as src
    inner join {{ ref('int_reporting_periods') }} as periods
        on src.month_start between periods.period_start and periods.period_end
    group by 1, 2, 3, 4, 5, 6
{%- endmacro %}
