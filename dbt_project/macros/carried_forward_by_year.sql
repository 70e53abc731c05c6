{#- The tail of a population model: one row per geography and calendar year up to the end of the calendar, each year
    taking the latest mid-year estimate at or before it (later years carry the latest one forward, flagged).
    `rolled_up` is a CTE with geography_code, mid_year and the `columns` to carry. -#}
{% macro carried_forward_by_year(rolled_up, columns) -%}
years as (

    select generate_series(min(mid_year), extract(year from '{{ var("calendar_end") }}'::date)::int) as year
    from {{ rolled_up }}

)

select
    rolled_up.geography_code,
    years.year,
    rolled_up.mid_year as population_year,
    {% for column in columns -%}
    rolled_up.{{ column }},
    {% endfor -%}
    years.year > rolled_up.mid_year as is_carried_forward
from years
inner join {{ rolled_up }} as rolled_up
    on rolled_up.mid_year = (
        select max(r.mid_year) from {{ rolled_up }} as r
        where r.geography_code = rolled_up.geography_code and r.mid_year <= years.year
    )
{%- endmacro %}
