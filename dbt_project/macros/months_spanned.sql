{#- The calendar months from the first to the last month a relation has data for (dense marts are built on them). -#}
{% macro months_spanned(relation, column='month_start') -%}
    select dim_date.*
    from {{ ref('dim_date') }} as dim_date
    where dim_date.month_start between (select min({{ column }}) from {{ relation }})
                                   and (select max({{ column }}) from {{ relation }})
{%- endmacro %}
