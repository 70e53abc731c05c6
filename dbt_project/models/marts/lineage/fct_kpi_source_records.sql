{#- The records behind each dashboard indicator, by geography, day or month, and the file (load) they came from:
    the catalogue's `lineage` relations (sources/reference/indicators.yml), counted per load and rolled up to every
    geography, so `cspwh explain` and analysts trace a figure to its files from marts alone. -#}
{%- set entries = [] %}
{%- for indicator in active_indicators() %}{% for lineage in indicator.lineage or [] %}
{%- do entries.append((indicator, lineage)) %}
{%- endfor %}{% endfor %}
with

rolled_up as (

    select * from {{ ref('int_geographies_rolled_up') }}

),

records as (

    {%- for indicator, lineage in entries %}
    select
        {{ sql_string(indicator.id) }}::text as indicator_id,
        {{ sql_string(lineage.relation) }}::text as relation,
        src.{{ lineage.geography_column }}::text as local_authority_code,
        ({{ lineage.month_column }})::date as record_date,
        src._load_id as load_id,
        src._source_file as source_file,
        count(*) as records
    from {{ ref(lineage.relation) }} as src
    where ({{ lineage.filter or 'true' }})
    group by 1, 2, 3, 4, 5, 6
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not entries %}
    select null::text, null::text, null::text, null::date, null::bigint, null::text, null::bigint where false
    {%- endif %}

)

select
    records.indicator_id,
    records.relation,
    rolled_up.geography_code,
    records.local_authority_code,
    records.record_date,
    records.load_id,
    records.source_file,
    records.records
from records
inner join rolled_up using (local_authority_code)
