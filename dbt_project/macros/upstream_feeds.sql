{#- The feeds (dbt sources generated from the contracts) a model reads, however many models lie between: from dbt's
    own graph, so an indicator's feeds are never listed by hand beside its lineage. Empty while parsing. -#}
{% macro upstream_feeds(model_names) -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set feeds = [] -%}
    {%- set queue = [] -%}
    {%- for name in model_names -%}
        {%- do queue.append('model.' ~ project_name ~ '.' ~ name) -%}
    {%- endfor -%}
    {%- set seen = [] -%}
    {#- a list that grows while it is walked: Jinja's loop follows the appended nodes (a breadth-first walk) -#}
    {%- for node_id in queue -%}
        {%- if node_id not in seen -%}
            {%- do seen.append(node_id) -%}
            {%- if node_id.startswith('source.') -%}
                {%- set feed = graph.sources[node_id].source_name -%}
                {%- if feed != 'landing' and feed not in feeds -%}{%- do feeds.append(feed) -%}{%- endif -%}
            {%- elif node_id in graph.nodes -%}
                {%- for parent in graph.nodes[node_id].depends_on.nodes -%}
                    {%- do queue.append(parent) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(feeds | sort) }}
{%- endmacro %}

{#- The months of a relation's rows that its feeds left short or changed (intermediate/files): joined on the feeds
    and the months a row covers, giving is_files_complete and files_note. -#}
{% macro files_assessed(feeds_sql, month_from, month_to, alias='files') -%}
    left join lateral (
        select
            coalesce(bool_and(assessed.is_files_complete), true) as is_files_complete,
            string_agg(distinct assessed.files_note, ' | ' order by assessed.files_note) as files_note
        from {{ ref('int_feed_months_assessed') }} as assessed
        where assessed.feed = any({{ feeds_sql }})
          and assessed.month_start between date_trunc('month', {{ month_from }}) and {{ month_to }}
    ) as {{ alias }} on true
{%- endmacro %}

{#- The same as a SQL text array, for a model's own rows: feeds_array([model.name]). -#}
{% macro feeds_array(model_names) -%}
    array[{% for feed in upstream_feeds(model_names) %}{{ sql_string(feed) }}{{ ", " if not loop.last }}{% endfor %}]::text[]
{%- endmacro %}
