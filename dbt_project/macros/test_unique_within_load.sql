{#- Unique across every load, tested one load at a time: a value that begins with its own load's id ('<load>:...')
    can never equal another load's, so uniqueness within each load is uniqueness overall. Rows failing either half
    are returned. Being per load, a build may test only the loads its published build had not (tested_by_load.sql). -#}
{% test unique_within_load(model, column_name) %}
select _load_id, {{ column_name }} as value, count(*) as n
from {{ model }}
group by _load_id, {{ column_name }}
having count(*) > 1 or {{ column_name }} is null or split_part({{ column_name }}, ':', 1) <> _load_id::text
{% endtest %}
