{#- Financial years run April to March: 2021-22 starts on 1 April 2021. -#}
{% macro financial_year_start(date_column) -%}
    (extract(year from {{ date_column }})::int - case when extract(month from {{ date_column }}) < 4 then 1 else 0 end)
{%- endmacro %}

{#- A financial quarter as partners' file names carry it: 2021-22Q2 is July to September 2021. -#}
{% macro financial_quarter_label(date_column) -%}
    ({{ financial_year_start(date_column) }}::text || '-'
     || lpad((({{ financial_year_start(date_column) }} + 1) % 100)::text, 2, '0') || 'Q'
     || (((extract(month from {{ date_column }})::int + 8) % 12) / 3 + 1)::text)
{%- endmacro %}
