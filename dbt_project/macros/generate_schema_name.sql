{#- Every layer of one build lives under the run's build schema (build_<run>_staging, ..._marts), so a run never
    touches what analysts read until publish swaps <build>_marts into marts. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
