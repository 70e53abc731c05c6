{#- The KPI mart is generated from the indicator catalogue (sources/reference/indicators.yml), which cspwh passes
    to dbt as var('indicators'). Only active indicators are compiled: a pending one names a mart that may not exist. -#}

{% macro active_indicators() -%}
    {{ return(var('indicators', []) | selectattr('status', 'equalto', 'active') | list) }}
{%- endmacro %}

{% macro sql_string(value) -%}
    {%- if value is none -%} null {%- else -%} '{{ (value | string) | replace("'", "''") }}' {%- endif -%}
{%- endmacro %}

{#- One indicator's numerator, denominator and value per geography and reporting period, from its month-grain
    source mart: the numerator is summed over the period's months; a population denominator is taken at the period's
    last month (denominator_aggregation: last), a cohort denominator is summed (sum). -#}
{% macro kpi_indicator_values(indicator) -%}
    {%- set source = indicator.source -%}
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
        count(distinct src._kpi_month)::int as months_covered,
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
            as is_estimated
    from (
        select *, {{ source.month_column }} as _kpi_month
        from {{ ref(source.model) }}
        where ({{ source.filter or 'true' }})
          and geography_level in ({% for level in source.geography_levels %}{{ sql_string(level) }}{{ ", " if not loop.last }}{% endfor %})
    ) as src
    inner join {{ ref('int_kpi_periods') }} as periods
        on src._kpi_month between periods.period_start and periods.period_end
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9
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
        {{ peer.multiplier or indicator.source.multiplier }}::numeric as multiplier
    from (select * from {{ ref(peer.model) }} where ({{ peer.filter or 'true' }})) as src
    inner join {{ ref('int_kpi_periods') }} as periods
        on src.month_start between periods.period_start and periods.period_end
    group by 1, 2, 3, 4, 5, 6
{%- endmacro %}
