{#- The board's KPI mart: one row per indicator, geography and reporting period (quarter, rolling 12 months to the
    quarter end, financial year), with numerator, denominator and value, the comparators (the same period a year
    earlier and the previous financial year), direction of travel, RAG by the configured rule, district rank (x of 7),
    peer rank among the police.uk peer forces where their data are loaded, the parent geography's value, and flags.
    Generated from the indicator catalogue: see macros/kpi.sql and sources/reference/indicators.yml. -#}
{%- set indicators = active_indicators() %}
with

kpi_values as (

    select * from {{ ref('int_kpi_values') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

geographies as (

    select * from {{ ref('dim_district') }}

),

primary_suppression as (

    select
        kpi_values.*,
        -- small, or withheld by its source for being small (a source's secondary suppression is not this figure's
        -- own smallness: it stays withheld, flagged secondary)
        case when kpi_values.source_suppressed and kpi_values.source_secondary_suppression then false
             else coalesce(kpi_values.numerator < indicators.suppress_below, true) or kpi_values.source_suppressed
        end as is_primary_suppressed
    from kpi_values
    inner join indicators using (indicator_id)

)
{#- a figure that would let a withheld one be recovered (the county less the other districts; the rolling year
    less its other quarters) is withheld too: macros/complementary_suppression.sql -#}
{{ complementary_suppression_ctes('primary_suppression', 'indicator_id', {}, 'is_primary_suppressed', 'numerator',
                                  breakdowns=false, withheld_already='source_suppressed') }},

published_values as (

    -- what a comparator may show: a withheld period's value would give it away as "the same period a year earlier"
    select
        primary_suppression.indicator_id, primary_suppression.geography_code, primary_suppression.period_type,
        primary_suppression.period_label, primary_suppression.period_start, primary_suppression.period_end,
        primary_suppression.is_complete,
        case when cs_final.is_withheld then null else primary_suppression.value end as value,
        primary_suppression.is_primary_suppressed,
        cs_final.is_withheld
    from primary_suppression
    inner join cs_final
        on cs_final.family = primary_suppression.indicator_id
        and cs_final.geography_code = primary_suppression.geography_code
        and cs_final.period_type = primary_suppression.period_type
        and cs_final.period_label = primary_suppression.period_label

),

series_break_categories as (

    select null::text as indicator_id, null::text as category where false
    {% for indicator in indicators %}{% for category in indicator.series_breaks or [] %}
    union all select {{ sql_string(indicator.id) }}, {{ sql_string(category) }}
    {% endfor %}{% endfor %}

),

series_breaks as (

    select series_break_categories.indicator_id, changes.effective_from::date as effective_from, changes.change
    from series_break_categories
    inner join {{ ref('crime_classification_changes') }} as changes
        on series_break_categories.category in (changes.old_category, changes.new_category)

),

matched_months as (

    -- each period on the calendar months that have data both in it and twelve months earlier: what a period is
    -- compared on when the data only partly cover its previous period (month-grain sources)
    select
        cur.indicator_id, cur.geography_code, cur.period_type, cur.period_label,
        count(*)::int as matched_months,
        sum(now_month.numerator) as numerator_now,
        sum(then_month.numerator) as numerator_then,
        case when max(now_month.denominator_aggregation) = 'sum' then sum(now_month.denominator)
             else (array_agg(now_month.denominator order by now_month.month_start desc))[1] end as denominator_now,
        case when max(then_month.denominator_aggregation) = 'sum' then sum(then_month.denominator)
             else (array_agg(then_month.denominator order by then_month.month_start desc))[1] end as denominator_then,
        max(now_month.multiplier) as multiplier
    from kpi_values as cur
    inner join {{ ref('int_kpi_monthly_values') }} as now_month
        on now_month.indicator_id = cur.indicator_id
        and now_month.geography_code = cur.geography_code
        and now_month.month_start between cur.period_start and cur.period_end
    inner join {{ ref('int_kpi_monthly_values') }} as then_month
        on then_month.indicator_id = now_month.indicator_id
        and then_month.geography_code = now_month.geography_code
        and then_month.month_start = (now_month.month_start - interval '12 months')::date
    group by cur.indicator_id, cur.geography_code, cur.period_type, cur.period_label

),

matched_values as (

    select
        matched_months.*,
        -- a rate over its last month's population (or a summed cohort), as int_kpi_values computes a period's
        round(case when matched_months.denominator_now is null
                       then matched_months.numerator_now * matched_months.multiplier
                   else matched_months.numerator_now * matched_months.multiplier
                       / nullif(matched_months.denominator_now, 0) end, 4) as value_now,
        round(case when matched_months.denominator_then is null
                       then matched_months.numerator_then * matched_months.multiplier
                   else matched_months.numerator_then * matched_months.multiplier
                       / nullif(matched_months.denominator_then, 0) end, 4) as value_then
    from matched_months

),

compared as (

    select
        cur.*,
        previous.period_label as previous_period_label,
        previous.value as previous_value,
        previous.is_complete as previous_is_complete,
        previous_fy.period_label as previous_fy_label,
        previous_fy.period_start as previous_fy_start,
        previous_fy.value as previous_fy_value,
        previous_fy.is_complete as previous_fy_is_complete
    from kpi_values as cur
    left join published_values as previous
        on previous.indicator_id = cur.indicator_id
        and previous.geography_code = cur.geography_code
        and previous.period_type = cur.period_type
        and previous.period_end = (cur.period_end + interval '1 day' - interval '12 months')::date - 1
    left join lateral (
        select fy.period_label, fy.period_start, fy.value, fy.is_complete
        from published_values as fy
        where fy.indicator_id = cur.indicator_id
          and fy.geography_code = cur.geography_code
          and fy.period_type = 'financial_year'
          and fy.period_end < cur.period_end
        order by fy.period_end desc
        limit 1
    ) as previous_fy on true

),

rated as (

    select
        compared.*,
        -- the previous rolling period only partly covered, but enough of its months are (rag.matched_months_min):
        -- compared on the months both periods cover; never for a withheld figure, whose change would give it away
        coalesce(
            compared.is_complete
            and indicators.rag_comparator = 'previous_period'
            and compared.previous_value is not null
            and not compared.previous_is_complete
            and indicators.rag_matched_months_min > 0
            and matched_values.matched_months >= indicators.rag_matched_months_min
            and not withheld.is_withheld,
            false) as compares_matched_months,
        matched_values.matched_months,
        matched_values.value_now as matched_value_now,
        matched_values.value_then as matched_value_then,
        indicators.up_is_good,
        indicators.rag_comparator,
        indicators.rag_tolerance_pct,
        indicators.rag_rule,
        indicators.rag_band_low,
        indicators.rag_band_high,
        indicators.is_indicative,
        withheld.is_withheld as is_suppressed,
        withheld.is_withheld and not withheld.is_primary_suppressed as is_secondary_suppression,
        compared.source_series_break or exists (
            select 1 from series_breaks
            where series_breaks.indicator_id = compared.indicator_id
              -- a change that takes effect after the comparator period began breaks the comparison
              and series_breaks.effective_from > case
                  when indicators.rag_comparator = 'previous_financial_year' then compared.previous_fy_start
                  else (compared.period_start - interval '12 months')::date end
              and series_breaks.effective_from <= compared.period_end
        ) as has_series_break,
        case when indicators.rag_comparator = 'previous_financial_year' then compared.previous_fy_value
             else compared.previous_value end as comparator_value,
        case when indicators.rag_comparator = 'previous_financial_year' then compared.previous_fy_label
             else compared.previous_period_label end as comparator_label,
        case when indicators.rag_comparator = 'previous_financial_year' then compared.previous_fy_is_complete
             else compared.previous_is_complete end as comparator_is_complete
    from compared
    inner join indicators using (indicator_id)
    inner join published_values as withheld
        on withheld.indicator_id = compared.indicator_id
        and withheld.geography_code = compared.geography_code
        and withheld.period_type = compared.period_type
        and withheld.period_label = compared.period_label
    left join matched_values
        on matched_values.indicator_id = compared.indicator_id
        and matched_values.geography_code = compared.geography_code
        and matched_values.period_type = compared.period_type
        and matched_values.period_label = compared.period_label

),

scored as (

    select
        rated.*,
        case
            when not rated.is_complete then 'current period incomplete'
            when rated.is_suppressed and rated.rag_rule = 'band' then 'suppressed'
            -- a band rule judges the level alone: no comparator is needed
            when rated.rag_rule = 'band' then null
            when rated.comparator_value is null then 'no comparator'
            when not rated.comparator_is_complete and not rated.compares_matched_months then 'comparator incomplete'
            when rated.has_series_break then 'series break'
            when rated.is_suppressed then 'suppressed'
            when rated.comparator_value = 0 and rated.rag_rule = 'tolerance' then 'comparator is zero'
        end as not_rated_reason,
        -- a change is only stated between two complete periods (or on the months both cover) with no series break
        -- between them
        case when rated.has_series_break then null
             when rated.compares_matched_months then
                round((rated.matched_value_now - rated.matched_value_then) * 100.0
                    / nullif(rated.matched_value_then, 0), 2)
             when rated.is_complete and rated.comparator_is_complete then
                round((rated.value - rated.comparator_value) * 100.0 / nullif(rated.comparator_value, 0), 2)
        end as change_pct,
        -- what the direction of travel and the RAG compare: the periods' values, or their matched months'
        case when rated.compares_matched_months then rated.matched_value_now else rated.value end as compared_value,
        case when rated.compares_matched_months then rated.matched_value_then else rated.comparator_value end
            as compared_comparator
    from rated

),

ranked as (

    select
        scored.*,
        case when geographies.is_partnership_district and scored.value is not null and not scored.is_suppressed then
            rank() over (
                partition by scored.indicator_id, scored.period_type, scored.period_label,
                    geographies.is_partnership_district and scored.value is not null and not scored.is_suppressed
                order by case when scored.up_is_good then -scored.value else scored.value end)
        end as district_rank,
        case when geographies.is_partnership_district then
            count(*) filter (where scored.value is not null and not scored.is_suppressed) over (
                partition by scored.indicator_id, scored.period_type, scored.period_label,
                    geographies.is_partnership_district)
        end as districts_ranked,
        geographies.parent_code as parent_geography_code
    from scored
    inner join geographies using (geography_code)

),

indicator_feeds as (

    -- the feeds behind each indicator, read from dbt's graph along its lineage (macros/upstream_feeds.sql)
    select null::text as indicator_id, null::text[] as feeds where false
    {% for indicator in indicators %}
    {%- set relations = (indicator.lineage or []) | map(attribute='relation') | list or [indicator.source.model] %}
    union all select {{ sql_string(indicator.id) }},
        {{ feeds_array(relations) }}
    {% endfor %}

),

peer_values as (

    select * from {{ ref('int_kpi_peer_values') }}
    where is_complete

),

peer_ranks as (

    select
        indicator_id, period_type, period_label, force_slug,
        rank() over (partition by indicator_id, period_type, period_label
                     order by case when indicators.up_is_good then -value else value end) as peer_rank,
        count(*) over (partition by indicator_id, period_type, period_label) as peers_ranked
    from peer_values
    inner join indicators using (indicator_id)
    where peer_values.in_comparison_group

),

-- the regional average: the region's forces pooled (their records over their summed populations), over the forces
-- whose files cover the whole period; how many of the region's forces that is goes beside it
region_values as (

    select
        indicator_id, period_type, period_label,
        round(sum(numerator) * max(multiplier) / nullif(sum(denominator), 0), 4) as region_value,
        count(*)::int as region_forces_covered
    from peer_values
    where in_region
    group by indicator_id, period_type, period_label

)

select
    ranked.indicator_id,
    ranked.geography_code,
    ranked.geography_level,
    ranked.period_type,
    ranked.period_label,
    ranked.reporting_quarter,
    ranked.period_start,
    ranked.period_end,
    ranked.months_covered,
    ranked.period_months,
    case when ranked.is_suppressed then null else ranked.numerator end as numerator,
    ranked.denominator,
    ranked.multiplier,
    case when ranked.is_suppressed then null else ranked.value end as value,
    ranked.previous_period_label,
    ranked.previous_value,
    ranked.previous_is_complete,
    ranked.previous_fy_label,
    ranked.previous_fy_value,
    ranked.previous_fy_is_complete,
    ranked.comparator_label,
    ranked.comparator_value,
    case when ranked.is_suppressed then null else ranked.change_pct end as change_pct,
    case
        when ranked.is_suppressed or ranked.change_pct is null then null
        when ranked.compared_value > ranked.compared_comparator then 'up'
        when ranked.compared_value < ranked.compared_comparator then 'down'
        else 'level'
    end as direction_of_travel,
    case
        when ranked.is_suppressed or ranked.change_pct is null then null
        when ranked.compared_value = ranked.compared_comparator then null
        else (ranked.compared_value > ranked.compared_comparator) = ranked.up_is_good
    end as is_improving,
    -- the indicator's rule (indicators.yml `rag`; cspwh/catalogue/indicators.py `rate` is its Python twin)
    case
        when ranked.not_rated_reason is not null then null
        when ranked.rag_rule = 'band' then
            case when ranked.value between ranked.rag_band_low and ranked.rag_band_high then 'G' else 'R' end
        when ranked.rag_rule = 'direction' then
            case when ranked.compared_value = ranked.compared_comparator then 'A'
                 when (ranked.compared_value > ranked.compared_comparator) = ranked.up_is_good then 'G' else 'R' end
        when ranked.change_pct * (case when ranked.up_is_good then 1 else -1 end) > ranked.rag_tolerance_pct then 'G'
        when ranked.change_pct * (case when ranked.up_is_good then 1 else -1 end) < -ranked.rag_tolerance_pct then 'R'
        else 'A'
    end as rag,
    ranked.not_rated_reason,
    case when ranked.compares_matched_months then ranked.matched_months end as comparison_months,
    case when ranked.compares_matched_months then ranked.matched_value_now end as comparison_value,
    case when ranked.compares_matched_months then ranked.matched_value_then end as comparison_comparator_value,
    ranked.rag_comparator,
    ranked.rag_tolerance_pct,
    ranked.district_rank,
    ranked.districts_ranked,
    case when ranked.geography_level = 'force_area' and peer_ranks.peers_ranked > 1 then peer_ranks.peer_rank end
        as peer_rank,
    case when ranked.geography_level = 'force_area' then peer_ranks.peers_ranked end as peers_ranked,
    ranked.parent_geography_code,
    case when ranked.is_suppressed or parent.is_suppressed then null else parent.value end as parent_value,
    ranked.is_complete,
    ranked.is_estimated,
    ranked.is_indicative,
    ranked.has_series_break,
    ranked.is_suppressed,
    array_remove(array[
        case when not ranked.is_complete then 'incomplete' end,
        case when ranked.is_estimated then 'estimated' end,
        case when ranked.is_indicative then 'indicative' end,
        case when ranked.has_series_break then 'series_break' end,
        case when ranked.is_suppressed then 'suppressed' end,
        case when not files.is_files_complete then 'files_incomplete' end
    ], null) as flags,
    files.is_files_complete,
    files.files_note,
    ranked.rag_rule,
    ranked.is_secondary_suppression,
    region_values.region_value,
    coalesce(region_values.region_forces_covered, 0) as region_forces_covered,
    (select count(*)::int from {{ ref('peer_forces') }} where in_region) as region_forces
from ranked
left join ranked as parent
    on parent.indicator_id = ranked.indicator_id
    and parent.geography_code = ranked.parent_geography_code
    and parent.period_type = ranked.period_type
    and parent.period_label = ranked.period_label
left join peer_ranks
    on peer_ranks.indicator_id = ranked.indicator_id
    and peer_ranks.period_type = ranked.period_type
    and peer_ranks.period_label = ranked.period_label
    and peer_ranks.force_slug = '{{ var("police_uk_force") }}'
left join region_values
    on region_values.indicator_id = ranked.indicator_id
    and region_values.period_type = ranked.period_type
    and region_values.period_label = ranked.period_label
left join indicator_feeds
    on indicator_feeds.indicator_id = ranked.indicator_id
{{ files_assessed('indicator_feeds.feeds', 'ranked.period_start', 'ranked.period_end') }}
