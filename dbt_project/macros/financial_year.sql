{#- Financial years run April to March: 2021-22 starts on 1 April 2021. -#}
{% macro financial_year_start(date_column) -%}
    (extract(year from {{ date_column }})::int - case when extract(month from {{ date_column }}) < 4 then 1 else 0 end)
{%- endmacro %}
