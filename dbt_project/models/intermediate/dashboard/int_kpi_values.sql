{#- Every active indicator's numerator, denominator and value per geography and reporting period: one CTE per
    indicator, generated from the catalogue (macros/kpi.sql), unioned. -#}
{%- set indicators = active_indicators() %}
with

{% for indicator in indicators %}
{{ indicator.id }} as (

    {{ kpi_indicator_values(indicator) }}

),

{% endfor %}
unioned as (

    {% for indicator in indicators %}
    select * from {{ indicator.id }}
    {{ "union all" if not loop.last }}
    {% endfor %}
    {% if not indicators %}
    select null::text as indicator_id, null::text as geography_code, null::text as geography_level,
        null::text as period_type, null::text as period_label, null::text as reporting_quarter,
        null::date as period_start, null::date as period_end, null::int as period_months, null::int as months_covered,
        null::numeric as numerator, null::numeric as denominator, null::numeric as multiplier,
        null::boolean as is_estimated, null::boolean as source_series_break, null::boolean as source_suppressed,
        null::boolean as source_secondary_suppression
    where false
    {% endif %}

)

select
    unioned.*,
    unioned.months_covered = unioned.period_months as is_complete,
    round(case
        when unioned.denominator is null then unioned.numerator * unioned.multiplier
        else unioned.numerator * unioned.multiplier / nullif(unioned.denominator, 0)
    end, 4) as value
from unioned
