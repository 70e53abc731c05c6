with

source as (

    select * from {{ source('police_uk', 'street_crimes') }}

),

renamed as (

    select
        _load_id || ':' || _line_number as street_crime_record_id,
        crime_id,
        month as month_start,
        substring(_source_file from '^\d{4}-\d{2}-(.+)-street') as force_slug,
        reported_by,
        falls_within,
        longitude,
        latitude,
        location,
        lsoa_code,
        lsoa_name,
        crime_type,
        last_outcome_category,
        _load_id,
        _source_file,
        _line_number,
        _loaded_at

    from source

)

select * from renamed
