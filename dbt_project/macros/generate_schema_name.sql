{#- Every layer of one build lives under the run's build schema (build_<run>_staging, ..._marts), so a run never
    touches what analysts read until publish swaps <build>_marts into marts. -#}
{#- `cspwh docs` catalogues the published marts where analysts read them (CSPWH_DOCS_MARTS_SCHEMA=marts). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is not none and custom_schema_name | trim == 'marts'
          and env_var('CSPWH_DOCS_MARTS_SCHEMA', '') -%}
        {{ env_var('CSPWH_DOCS_MARTS_SCHEMA') }}
    {%- elif custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
