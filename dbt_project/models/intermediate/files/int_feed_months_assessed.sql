{#- Each feed month whose files leave the figures short or changed: a file quarantined or held back and not since
    replaced, a period between the first and last received with no file at all (a Storm day, a MARAC month, a UAVA
    quarter), or a period restated by a later file. Only the partnership's own stream counts (a peer force's missing
    police.uk month does not make the partnership's figures short). One row per feed and month, with a short note a
    board member can read; months with nothing to say have no row. -#}
with

files as (

    select * from {{ ref('stg_landing__file_outcomes') }}
    where period_grain is not null
      and (stream is null or stream = '{{ var("police_uk_force") }}')

),

loaded as (

    select * from files where outcome = 'loaded'

),

not_loaded as (

    -- the latest file of a period that a later loaded file has not replaced
    select
        files.feed, files.entity, files.stream, files.period, files.period_start, files.period_end,
        files.period_grain,
        'not_loaded' as problem,
        files.file_name || ' (' || case files.outcome when 'held' then 'held back' else files.outcome end
            || ', received ' || to_char(files.received_at, 'YYYY-MM-DD')
            || case when earlier.file_id is not null then '; figures use the earlier file ' || earlier.file_name
                    else '; its records are missing' end || ')' as detail,
        earlier.file_id is null as leaves_short
    from files
    left join lateral (
        select loaded.file_id, loaded.file_name from loaded
        where loaded.feed = files.feed and loaded.entity is not distinct from files.entity
          and loaded.stream is not distinct from files.stream and loaded.period = files.period
        order by loaded.file_id desc
        limit 1
    ) as earlier on true
    where files.outcome in ('quarantined', 'held')
      and not exists (
          select 1 from loaded as later
          where later.feed = files.feed and later.entity is not distinct from files.entity
            and later.stream is not distinct from files.stream and later.period = files.period
            and later.file_id > files.file_id)

),

expected as (

    -- every period from the first to the last a feed's entity was loaded for, at its own grain
    select
        spans.feed, spans.entity, spans.stream, spans.period_grain,
        generate_series(spans.first_start, spans.last_start,
            case spans.period_grain when 'day' then interval '1 day' when 'month' then interval '1 month'
                 else interval '3 months' end)::date as period_start
    from (
        select feed, entity, stream, period_grain, min(period_start) as first_start, max(period_start) as last_start
        from loaded
        group by feed, entity, stream, period_grain
    ) as spans

),

missing as (

    select
        expected.feed, expected.entity, expected.stream,
        case expected.period_grain
            when 'day' then to_char(expected.period_start, 'YYYY-MM-DD')
            when 'month' then to_char(expected.period_start, 'YYYY-MM')
            else {{ financial_quarter_label('expected.period_start') }}
        end as period,
        expected.period_start,
        case expected.period_grain
            when 'day' then expected.period_start
            when 'month' then (expected.period_start + interval '1 month')::date - 1
            else (expected.period_start + interval '3 months')::date - 1
        end as period_end,
        expected.period_grain,
        'missing' as problem,
        null::text as detail,
        true as leaves_short
    from expected
    where not exists (
        select 1 from files
        where files.feed = expected.feed and files.entity is not distinct from expected.entity
          and files.stream is not distinct from expected.stream and files.period_start = expected.period_start
          and files.period_grain = expected.period_grain)

),

restated as (

    select
        feed, entity, stream, period, period_start, period_end, period_grain,
        'restated' as problem,
        -- a resend under the same name is named once, with both dates
        case when newest_name = oldest_name
             then newest_name || ' resent ' || newest_received || ', replacing the copy received ' || oldest_received
             else newest_name || ' (received ' || newest_received || ') replaced ' || oldest_name || ' (received '
                 || oldest_received || ')'
        end as detail,
        false as leaves_short
    from (
        select
            feed, entity, stream, period, min(period_start) as period_start, min(period_end) as period_end,
            min(period_grain) as period_grain,
            (array_agg(file_name order by file_id desc))[1] as newest_name,
            (array_agg(to_char(received_at, 'YYYY-MM-DD') order by file_id desc))[1] as newest_received,
            (array_agg(file_name order by file_id))[1] as oldest_name,
            (array_agg(to_char(received_at, 'YYYY-MM-DD') order by file_id))[1] as oldest_received
        from loaded
        group by feed, entity, stream, period
        having count(*) > 1
    ) as replaced

),

problems as (

    select * from not_loaded
    union all
    select * from missing
    union all
    select * from restated

),

by_month as (

    select problems.*, months.month_start::date as month_start
    from problems
    cross join lateral generate_series(date_trunc('month', problems.period_start),
                                       date_trunc('month', problems.period_end), interval '1 month')
        as months (month_start)

),

summarised as (

    select
        feed, month_start, problem,
        count(*) as periods,
        bool_or(leaves_short) as leaves_short,
        case problem
            when 'not_loaded' then count(*) || ' file(s) not loaded: '
            when 'missing' then 'no file received for ' || count(*) || ' ' || min(period_grain) || '(s): '
            else count(*) || ' period(s) restated: '
        end
        || array_to_string((array_agg(coalesce(detail, period) order by period))[1:3], '; ')
        || case when count(*) > 3 then '; and ' || (count(*) - 3) || ' more' else '' end as note
    from by_month
    group by feed, month_start, problem

)

select
    feed,
    month_start,
    not bool_or(leaves_short) as is_files_complete,
    coalesce(sum(periods) filter (where problem = 'not_loaded'), 0)::int as files_not_loaded,
    coalesce(sum(periods) filter (where problem = 'missing'), 0)::int as periods_missing,
    coalesce(sum(periods) filter (where problem = 'restated'), 0)::int as periods_restated,
    feed || ': ' || string_agg(note, '; ' order by problem) as files_note
from summarised
group by feed, month_start
