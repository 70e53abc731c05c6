{#- The files loaded into raw and which of them is each period's current version. -#}
with

source as (

    select * from {{ source('landing', 'file_manifest') }}
    where outcome = 'loaded'

)

select
    file_id as load_id,
    feed,
    entity,
    stream,
    period,
    file_id = max(file_id) over (partition by feed, entity, stream, period) as is_current,
    min(file_id) over (partition by feed, entity, stream, period) as first_load_id
from source
