{#- Rows of the current file of each period a feed's file names carry (a quarter such as 2021-22Q2 or a month such
    as 2022-03): a resent or corrected file replaces the period as a whole (the file gate's `restatement` warning),
    so a case left out of the original is added and one corrected is counted once. The current file is read from
    the manifest, not from the rows, so an accepted restatement with no rows empties its period. -#}
{% macro latest_file_per_period(relation, feed, entity) -%}
    select
        source.*,
        files.period as file_period,
        files.load_id as latest_load_id,
        files.first_load_id
    from {{ relation }} as source
    inner join {{ ref('stg_landing__loaded_files') }} as files
        on files.load_id = source._load_id
    where files.feed = '{{ feed }}' and files.entity = '{{ entity }}' and files.is_current
{%- endmacro %}
