{#- Every active month-grain indicator's numerator and denominator per geography and month (macros/kpi.sql), for
    comparisons on the months two periods both cover (fct_kpi). -#}
{%- set indicators = active_indicators() | rejectattr('source.grain', 'equalto', 'period') | list %}
{% if indicators %}
{% for indicator in indicators %}
({{ kpi_indicator_months(indicator) }})
{{ "union all" if not loop.last }}
{% endfor %}
{% else %}
select null::text as indicator_id, null::text as geography_code, null::date as month_start, null::numeric as numerator,
    null::numeric as denominator, null::text as denominator_aggregation, null::numeric as multiplier
where false
{% endif %}
