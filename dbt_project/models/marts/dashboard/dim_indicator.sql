{#- The indicator catalogue (sources/reference/indicators.yml) as a table: every indicator of the board's dashboard,
    including those whose feed or mart has not landed yet (status pending or no_feed), with its effective RAG rule. -#}
{%- set indicators = var('indicators', []) %}
{%- set outcomes = var('outcomes', []) %}
{%- set outcome_names = {} %}
{%- for outcome in outcomes %}{% do outcome_names.update({outcome.id: outcome.name}) %}{% endfor %}

{% if indicators %}
select * from (values
{% for i in indicators %}
    ({{ sql_string(i.id) }}, {{ sql_string(i.name) }}, {{ sql_string(i.ref) }}, {{ sql_string(i.outcome) }},
     {{ sql_string(outcome_names.get(i.outcome)) }}, {{ i.outcome_order }}, {{ i.order }}, {{ sql_string(i.unit) }},
     {{ sql_string(i.unit_label) }}, {{ i.decimals }}, {{ i.up_is_good }}, {{ sql_string(i.status) }},
     {{ sql_string(i.geography) }}, {{ sql_string(i.source.model if i.source else none) }},
     {{ sql_string(i.source.numerator if i.source else none) }},
     {{ sql_string(i.source.denominator if i.source else none) }},
     {{ (i.source.multiplier or 1) if i.source else 'null' }}::numeric,
     {{ sql_string(i.rag.comparator) }}, {{ i.rag.tolerance_pct }}::numeric, {{ i.indicative }},
     {{ i.suppress_below }}, {{ (i.peer is not none) and (i.peer | length > 0) }}, {{ sql_string(i.note or none) }},
     {{ sql_string(i.rag.rule) }}, {{ i.rag.band[0] if i.rag.band else 'null' }}::numeric,
     {{ i.rag.band[1] if i.rag.band else 'null' }}::numeric, {{ sql_string(i.rag.board_source) }},
     {{ i.rag.matched_months_min or 0 }})
    {{- "," if not loop.last }}
{% endfor %}
) as catalogue (
    indicator_id, indicator_name, board_ref, outcome_id, outcome_name, outcome_order, indicator_order, unit,
    unit_label, decimals, up_is_good, status, dashboard_geography_level, source_model, numerator_expression,
    denominator_expression, multiplier, rag_comparator, rag_tolerance_pct, is_indicative, suppress_below,
    has_peer_rank, note, rag_rule, rag_band_low, rag_band_high, rag_board_source, rag_matched_months_min
)
{% else %}
select null::text as indicator_id, null::text as indicator_name, null::text as board_ref, null::text as outcome_id,
    null::text as outcome_name, null::int as outcome_order, null::int as indicator_order, null::text as unit,
    null::text as unit_label, null::int as decimals, null::boolean as up_is_good, null::text as status,
    null::text as dashboard_geography_level, null::text as source_model, null::text as numerator_expression,
    null::text as denominator_expression, null::numeric as multiplier, null::text as rag_comparator,
    null::numeric as rag_tolerance_pct, null::boolean as is_indicative, null::int as suppress_below,
    null::boolean as has_peer_rank, null::text as note, null::text as rag_rule, null::numeric as rag_band_low,
    null::numeric as rag_band_high, null::text as rag_board_source, null::int as rag_matched_months_min
where false
{% endif %}
