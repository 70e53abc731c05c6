{#- Every file loaded into raw, as the analyst may see it: which feed, when it arrived and its hash. The load id is
    `_load_id` on every row it brought, so any figure can be traced to its files without reading landing. -#}
select
    file_id as load_id,
    feed,
    entity,
    file_name,
    stream,
    period,
    row_count,
    received_at,
    last_received_at,
    times_received,
    content_hash
from {{ ref('stg_landing__file_outcomes') }}
where outcome = 'loaded'
