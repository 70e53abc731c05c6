{#- Rows of the latest loaded file of each period a feed's file names carry (a quarter such as 2021-22Q2 or a month
    such as 2022-03): a resent or corrected file replaces the period as a whole (the file gate's `restatement`
    warning), so a case left out of the original is added and one corrected is counted once. -#}
{% macro latest_file_per_period(relation, period_pattern) -%}
    select *
    from (
        select
            source.*,
            substring(source._source_file from '{{ period_pattern }}') as file_period,
            max(source._load_id) over (
                partition by substring(source._source_file from '{{ period_pattern }}')
            ) as latest_load_id,
            min(source._load_id) over (
                partition by substring(source._source_file from '{{ period_pattern }}')
            ) as first_load_id
        from {{ relation }} as source
    ) as versions
    where _load_id = latest_load_id
{%- endmacro %}
