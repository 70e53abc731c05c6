{#- The KPI marts' last step: geography level, financial year and quarter labels from dim_date, and small-number
    suppression. A local authority's figure (a district, or a unitary such as Rutland) that discloses fewer than
    var('suppression_threshold') people (its `suppress_on` count) is shown as null with is_suppressed; county and
    wider figures are never suppressed by this first rule. Then secondary suppression (complementary_suppression.sql)
    withholds the figures beside a withheld one that would let it be solved for, with their reason. The macro
    follows the model's CTE list (its output starts with a comma). -#}
{% macro suppress_small_counts(kpis, families={}, totals=[], partitions=[]) -%}
, primary_suppression as (

    select
        kpis.*,
        geographies.geography_level in ('district', 'unitary')
            and kpis.suppress_on < {{ var("suppression_threshold") }} as is_primary_suppressed
    from {{ kpis }} as kpis
    inner join {{ ref('dim_district') }} as geographies using (geography_code)

)
{{ complementary_suppression_ctes('primary_suppression', 'kpi_code', families, 'is_primary_suppressed', 'suppress_on',
                                  totals=totals, partitions=partitions) }}

    select
        kpis.kpi_code,
        kpis.kpi_name,
        kpis.source_feed,
        kpis.unit,
        kpis.geography_code,
        geographies.geography_level,
        kpis.period_type,
        kpis.period_label,
        kpis.period_start,
        kpis.period_end,
        period_end_month.financial_year,
        case when kpis.period_type = 'quarter' then period_end_month.financial_quarter_label end
            as financial_quarter_label,
        kpis.breakdown_type,
        kpis.breakdown_value,
        case when suppressed.is_suppressed then null else kpis.numerator end as numerator,
        case when suppressed.is_suppressed and kpis.denominator_kind = 'count' then null else kpis.denominator end
            as denominator,
        kpis.denominator_kind,
        case when suppressed.is_suppressed then null else kpis.value end as value,
        kpis.comparator_value,
        kpis.comparator_label,
        kpis.band_lower,
        kpis.band_upper,
        case when suppressed.is_suppressed then null
             else kpis.value < kpis.band_lower or kpis.value > kpis.band_upper end as is_outside_band,
        kpis.as_of_date,
        kpis.is_complete,
        kpis.is_estimated,
        kpis.is_indicative,
        kpis.series_break,
        kpis.provider_period,
        kpis.layout_version,
        kpis.definition_version,
        kpis.is_restated,
        suppressed.is_suppressed,
        case when kpis.is_primary_suppressed
             then 'fewer than {{ var("suppression_threshold") }} at local authority level'
             when suppressed.is_suppressed
             then 'withheld to protect another small number (it could be recovered from the figures beside it)'
             end as suppression_reason,
        files.is_files_complete,
        files.files_note,
        suppressed.is_suppressed and not kpis.is_primary_suppressed as is_secondary_suppression
    from primary_suppression as kpis
    inner join {{ ref('dim_district') }} as geographies using (geography_code)
    inner join {{ ref('dim_date') }} as period_end_month
        on period_end_month.month_start = date_trunc('month', kpis.period_end)::date
    inner join cs_final as withheld
        on withheld.family = {{ suppression_family('kpis.kpi_code', families) }}
        and withheld.geography_code = kpis.geography_code
        and withheld.period_type = kpis.period_type
        and withheld.period_label = kpis.period_label
        and withheld.breakdown_type is not distinct from kpis.breakdown_type
        and withheld.breakdown_value is not distinct from kpis.breakdown_value
    cross join lateral (select kpis.is_primary_suppressed or withheld.is_withheld as is_suppressed) as suppressed
    {{ files_assessed('array[kpis.source_feed]', 'kpis.period_start', 'kpis.period_end') }}
{%- endmacro %}
