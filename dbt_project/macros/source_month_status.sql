{#- Where a month stands for one source, from the first and last months its records reach: 'loaded' inside them,
    'awaiting' after the last (the month's file has not arrived yet: not a zero), 'before_source' before the first
    (the source had not started). -#}
{% macro source_month_status(month, first_month, last_month) -%}
    case
        when {{ first_month }} is null or {{ month }} > {{ last_month }} then 'awaiting'
        when {{ month }} < {{ first_month }} then 'before_source'
        else 'loaded'
    end
{%- endmacro %}
