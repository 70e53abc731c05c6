{#- Each peer-ranked indicator per police force and period, computed on whole-force police.uk totals. -#}
{%- set indicators = active_indicators() | selectattr('peer') | list %}
with

{% for indicator in indicators %}
{{ indicator.id }} as (

    {{ kpi_peer_values(indicator) }}

),

{% endfor %}
unioned as (

    {% for indicator in indicators %}
    select * from {{ indicator.id }}
    {{ "union all" if not loop.last }}
    {% endfor %}
    {% if not indicators %}
    select null::text as indicator_id, null::text as force_slug, null::text as force_name, null::text as period_type,
        null::text as period_label, null::int as period_months, null::int as months_covered,
        null::numeric as numerator, null::numeric as denominator, null::numeric as multiplier,
        null::boolean as in_comparison_group, null::boolean as in_region
    where false
    {% endif %}

)

select
    unioned.*,
    unioned.months_covered = unioned.period_months as is_complete,
    round(unioned.numerator * unioned.multiplier / nullif(unioned.denominator, 0), 4) as value
from unioned
