{{ config(materialized='view') }}
{#- Each build published into marts, newest last: a view on the audit record, so it includes tonight's. -#}
select publication_id, run_id, build_schema, published_at, night, forced
from {{ source('audit', 'publications') }}
