{#- Every loaded file of the UAVA, MARAC, YOS and probation feeds with the period its name carries and its headline
    figures, so a period sent twice shows both versions (staging keeps only the latest). -#}
with

uava as (

    select 'uava_return' as feed, 'district_services' as entity,
        substring(_source_file from '(\d{4}-\d{2}Q[1-4])') as period, _load_id, _source_file,
        min(_loaded_at) as loaded_at, count(*) as file_rows, 'referrals' as measure, sum(referrals) as measure_value
    from {{ source('uava_return', 'district_services') }}
    group by 1, 2, 3, 4, 5

),

marac as (

    select 'marac', 'cases', substring(_source_file from '(\d{4}-\d{2})\.csv$'), _load_id, _source_file,
        min(_loaded_at), count(*), 'repeats recorded', count(*) filter (where recorded_repeat)
    from {{ source('marac', 'cases') }}
    group by 1, 2, 3, 4, 5

),

fte as (

    select 'yos', 'first_time_entrants', substring(_source_file from '(\d{4}-\d{2})\.csv$'), _load_id,
        _source_file, min(_loaded_at), count(*), 'first-time entrants', count(*)
    from {{ source('yos', 'first_time_entrants') }}
    group by 1, 2, 3, 4, 5

),

cohort as (

    select 'yos', 'reoffending_cohort', substring(_source_file from '(\d{4}-\d{2})\.csv$'), _load_id,
        _source_file, min(_loaded_at), count(*), 'reoffences to date', sum(reoffences_to_date)
    from {{ source('yos', 'reoffending_cohort') }}
    group by 1, 2, 3, 4, 5

),

ete as (

    select 'yos', 'ete_closures', substring(_source_file from '(\d{4}-\d{2})\.csv$'), _load_id, _source_file,
        min(_loaded_at), count(*), 'disposals closed', count(*)
    from {{ source('yos', 'ete_closures') }}
    group by 1, 2, 3, 4, 5

),

rat as (

    select 'crc_rat', 'terminated_cohort', substring(_source_file from '(\d{4}-\d{2}Q[1-4])'), _load_id,
        _source_file, min(_loaded_at), count(*), 'reoffenders', count(*) filter (where reoffended)
    from {{ source('crc_rat', 'terminated_cohort') }}
    group by 1, 2, 3, 4, 5

)

select * from uava
union all
select * from marac
union all
select * from fte
union all
select * from cohort
union all
select * from ete
union all
select * from rat
