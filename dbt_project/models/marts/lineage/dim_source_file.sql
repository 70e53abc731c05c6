{#- Every file loaded into raw, as the analyst may see it: which feed, when it arrived and its hash. The load id is
    `_load_id` on every row it brought, so any figure can be traced to its files without reading landing. -#}
with

files as (

    select * from {{ source('landing', 'file_manifest') }}
    where outcome = 'loaded'

)

select
    file_id as load_id,
    feed,
    entity,
    file_name,
    stream,
    period,
    rows as row_count,
    received_at,
    last_received_at,
    times_received,
    content_hash
from files
