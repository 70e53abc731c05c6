{#- Periods of the UAVA, MARAC, YOS and probation feeds sent more than once (a correction or a resend): the file
    now used and the one it replaced, with rows and the headline figure of each, so a figure already reported that
    changes is visible with both values. The KPI marts flag these periods is_restated. -#}
with

files as (

    select files.*, outcomes.received_at
    from {{ ref('int_feed_period_files') }} as files
    left join {{ ref('stg_landing__file_outcomes') }} as outcomes on outcomes.file_id = files._load_id

),

versions as (

    select
        *,
        lag(_source_file) over w as superseded_file,
        lag(_load_id) over w as superseded_load_id,
        lag(loaded_at) over w as superseded_loaded_at,
        lag(received_at) over w as superseded_received_at,
        lag(file_rows) over w as superseded_rows,
        lag(measure_value) over w as superseded_value
    from files
    window w as (partition by feed, entity, period order by _load_id)

)

select
    feed,
    entity,
    period,
    measure,
    superseded_file,
    superseded_loaded_at,
    superseded_rows,
    superseded_value,
    _source_file as restating_file,
    loaded_at as restating_loaded_at,
    file_rows as restating_rows,
    measure_value as restating_value,
    (measure_value is distinct from superseded_value) or (file_rows is distinct from superseded_rows)
        as figures_changed,
    superseded_received_at,
    received_at as restating_received_at
from versions
where superseded_load_id is not null
