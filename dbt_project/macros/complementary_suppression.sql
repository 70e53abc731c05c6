{#- Secondary (complementary) suppression. Withholding a small number is not enough when the figures published
    beside it add up to a total that is also published: a district's count is the county's less the other districts,
    a service's referrals are 'All services' less the other services, a quarter is its financial year less the other
    quarters. Every such additive equation among the published cells must hold either no withheld value or at least
    two, else the one withheld value is the equation's only unknown and anyone can solve for it.

    The macro emits CTEs (it is called after a CTE list, so its output starts with a comma) ending in `cs_final`:
    one row per cell (`family`, geography, period, breakdown) with is_withheld and is_primary. A cell is the unit of
    disclosure: indicators of one `family` publish the same count (first-time entrants as a count and as a rate;
    referrals as a count and as the engagement rate's denominator), so they are withheld together.

    Equations, each among the cells of one family:
    - geography: a geography equals the geographies it is made of (from int_geographies_rolled_up), where those
      present in the mart cover its local authorities exactly once (the county = its districts; Leicestershire and
      Rutland = the county + Rutland; the force area = the county + Leicester + Rutland);
    - breakdown: a total (`totals`) equals the cells of each breakdown type that partitions it (`partitions`);
    - period: a financial year, rolling 12 months or year to date equals the quarters (or quarterly tracking cohorts)
      it spans when all are present;
      two overlapping periods differ by the quarters only one spans (a rolling year and the one a quarter before);
      two period types over the same months (year to date to March, the financial year) are the same figure.

    Each round, every equation with exactly one withheld cell withholds one more: a local authority before a wider
    geography before the county, and the geography the board's dashboard shows for the indicator (its catalogue
    `geography`) last; within one geography a part before its total; then the smallest,
    then a fixed order so rebuilds are identical. Rounds repeat (unrolled, `rounds`) until nothing changes; a mart that
    still needs another round fails the build rather than publish a recoverable number. -#}
{% macro complementary_suppression_ctes(relation, code_column, families, is_primary, size, totals=[], partitions=[],
                                          breakdowns=true, rounds=none, withheld_already=none) -%}
{#- 12 rounds unless the caller or var('suppression_rounds') says otherwise -#}
{%- set rounds = rounds if rounds is not none else var('suppression_rounds', 12) -%}
{%- if breakdowns -%}
    {%- set bd = "breakdown_type, breakdown_value" -%}
{%- else -%}
    {%- set bd = "'all'::text as breakdown_type, 'all'::text as breakdown_value" -%}
{%- endif -%}
, cs_rows as (

    select
        {{ suppression_family(code_column, families) }} as family,
        geography_code, period_type, period_label, period_start, period_end, {{ bd }},
        ({{ is_primary }}) as is_primary,
        -- withheld before this step for another reason (a source mart's own secondary suppression)
        ({{ is_primary }}) or ({{ withheld_already or 'false' }}) as is_withheld_already,
        ({{ size }}) as size
    from {{ relation }}

),

cs_keyed as (

    select
        cells.*,
        case when (cells.family, cells.geography_code) in (
                      {%- for family, code in board_geographies(families, code_column) -%}
                      ('{{ family }}', '{{ code }}'), {% endfor -%}
                      (null, null))
             then 3
             else case geographies.geography_level when 'district' then 0 when 'unitary' then 0
                                                   when 'county' then 2 else 1 end
        end as geography_rank,
        (((extract(year from age(cells.period_end + 1, cells.period_start)) * 12)
          + extract(month from age(cells.period_end + 1, cells.period_start))))::int as months,
        -- a tracking cohort is one financial quarter's entrants: its people add up into longer periods as a
        -- quarter's do
        cells.period_type in ('quarter', 'tracking_cohort') as is_quarter,
        row_number() over (order by cells.family, cells.geography_code, cells.period_type, cells.period_label,
                           cells.breakdown_type, cells.breakdown_value) as cell_id
    from (
        select family, geography_code, period_type, period_label, min(period_start) as period_start,
               max(period_end) as period_end, breakdown_type, breakdown_value,
               coalesce(bool_or(is_primary), false) as is_primary,
               coalesce(bool_or(is_withheld_already), false) as is_withheld_already, min(size) as size
        from cs_rows
        group by family, geography_code, period_type, period_label, breakdown_type, breakdown_value
    ) as cells
    inner join {{ ref('dim_district') }} as geographies using (geography_code)

),

cs_present as (

    select distinct cs_keyed.family, cs_keyed.geography_code, rolled_up.local_authority_code
    from cs_keyed
    inner join {{ ref('int_geographies_rolled_up') }} as rolled_up using (geography_code)

),

cs_contains as (

    select distinct parent.family, parent.geography_code as parent_code, child.geography_code as child_code
    from (select distinct family, geography_code from cs_present) as parent
    inner join (select distinct family, geography_code from cs_present) as child
        on child.family = parent.family and child.geography_code <> parent.geography_code
    where not exists (
        select 1 from cs_present as child_la
        where child_la.family = child.family and child_la.geography_code = child.geography_code
          and not exists (
              select 1 from cs_present as parent_la
              where parent_la.family = parent.family and parent_la.geography_code = parent.geography_code
                and parent_la.local_authority_code = child_la.local_authority_code))

),

cs_geography_parts as (

    -- the largest geographies inside each one, kept only where they cover it exactly once
    select parts.family, parts.parent_code, parts.child_code
    from cs_contains as parts
    where not exists (
            select 1 from cs_contains as middle
            inner join cs_contains as below
                on below.family = middle.family and below.parent_code = middle.child_code
            where middle.family = parts.family and middle.parent_code = parts.parent_code
              and below.child_code = parts.child_code)
      and (parts.family, parts.parent_code) in (
            select maximal.family, maximal.parent_code
            from cs_contains as maximal
            inner join cs_present as la on la.family = maximal.family and la.geography_code = maximal.child_code
            where not exists (
                select 1 from cs_contains as middle
                inner join cs_contains as below
                    on below.family = middle.family and below.parent_code = middle.child_code
                where middle.family = maximal.family and middle.parent_code = maximal.parent_code
                  and below.child_code = maximal.child_code)
            group by maximal.family, maximal.parent_code
            having count(*) = count(distinct la.local_authority_code)
               and count(*) = (select count(*) from cs_present as whole
                               where whole.family = maximal.family and whole.geography_code = maximal.parent_code))

),

cs_overlapping_periods as (

    -- two overlapping periods (rolling years a quarter apart) differ by the quarters only one of them spans:
    -- R12 to Q + the quarter a year before = R12 to the quarter before + Q
    select
        a.family, a.geography_code, a.breakdown_type, a.breakdown_value, a.cell_id as a_id, b.cell_id as b_id,
        a.period_start as a_start, a.period_end as a_end, b.period_start as b_start, b.period_end as b_end,
        a.months - overlap.months as a_only_months, b.months - overlap.months as b_only_months
    from cs_keyed as a
    inner join cs_keyed as b
        on b.family = a.family and b.geography_code = a.geography_code
        and b.breakdown_type = a.breakdown_type and b.breakdown_value = a.breakdown_value
        and b.cell_id > a.cell_id and not a.is_quarter and not b.is_quarter
        and a.period_start <= b.period_end and b.period_start <= a.period_end
        and (a.period_start, a.period_end) <> (b.period_start, b.period_end)
    cross join lateral (
        select ((extract(year from age(least(a.period_end, b.period_end) + 1, greatest(a.period_start, b.period_start))) * 12)
                + extract(month from age(least(a.period_end, b.period_end) + 1, greatest(a.period_start, b.period_start))))::int
            as months
    ) as overlap

),

cs_members as (

    select 'geography ' || total.cell_id as equation_id, total.cell_id, true as is_total
    from cs_keyed as total
    where exists (select 1 from cs_geography_parts as g
                  where g.family = total.family and g.parent_code = total.geography_code)
    union all
    select 'geography ' || total.cell_id, part.cell_id, false
    from cs_keyed as total
    inner join cs_geography_parts as g on g.family = total.family and g.parent_code = total.geography_code
    inner join cs_keyed as part
        on part.family = total.family and part.geography_code = g.child_code
        and part.period_type = total.period_type and part.period_label = total.period_label
        and part.breakdown_type = total.breakdown_type and part.breakdown_value = total.breakdown_value
    {%- if totals and partitions %}
    union all
    select distinct 'breakdown ' || total.cell_id || ' ' || part.breakdown_type, member.cell_id, member.is_total
    from cs_keyed as total
    inner join cs_keyed as part
        on part.family = total.family and part.geography_code = total.geography_code
        and part.period_type = total.period_type and part.period_label = total.period_label
        and part.breakdown_type in ({% for p in partitions %}'{{ p }}'{{ ", " if not loop.last }}{% endfor %})
        and part.breakdown_value not in ({% for t in totals %}'{{ t }}'{{ ", " if not loop.last }}{% endfor %})
    cross join lateral (values (total.cell_id, true), (part.cell_id, false)) as member(cell_id, is_total)
    where total.breakdown_value in ({% for t in totals %}'{{ t }}'{{ ", " if not loop.last }}{% endfor %})
    {%- endif %}
    union all
    select spans.equation_id, member.cell_id, member.is_total from (
        select 'period ' || total.cell_id as equation_id, total.cell_id as total_id, part.cell_id,
               count(*) over (partition by total.cell_id) * 3 = total.months as is_whole, total.cell_id as anchor
        from cs_keyed as total
        inner join cs_keyed as part
            on part.family = total.family and part.geography_code = total.geography_code
            and part.breakdown_type = total.breakdown_type and part.breakdown_value = total.breakdown_value
            and part.is_quarter and part.months = 3
            and part.period_start >= total.period_start and part.period_end <= total.period_end
        where not total.is_quarter
    ) as spans
    cross join lateral (values (spans.cell_id, false), (spans.total_id, true)) as member(cell_id, is_total)
    where spans.is_whole
    union all
    select 'same months ' || one.cell_id || ' ' || other.cell_id, member.cell_id, member.is_total
    from cs_keyed as one
    inner join cs_keyed as other
        on other.family = one.family and other.geography_code = one.geography_code
        and other.breakdown_type = one.breakdown_type and other.breakdown_value = one.breakdown_value
        and other.period_start = one.period_start and other.period_end = one.period_end
        and other.period_type > one.period_type
    cross join lateral (values (one.cell_id, true), (other.cell_id, false)) as member(cell_id, is_total)

    union all
    select pair_parts.equation_id, member.cell_id, member.is_total
    from (
        select 'overlap ' || pairs.a_id || ' ' || pairs.b_id as equation_id, pairs.a_id, pairs.b_id, q.cell_id,
               sum(q.months) filter (where q.period_start >= pairs.a_start and q.period_end <= pairs.a_end)
                   over (partition by pairs.a_id, pairs.b_id) = pairs.a_only_months
               and sum(q.months) filter (where q.period_start >= pairs.b_start and q.period_end <= pairs.b_end)
                   over (partition by pairs.a_id, pairs.b_id) = pairs.b_only_months as is_tiled
        from cs_overlapping_periods as pairs
        inner join cs_keyed as q
            on q.family = pairs.family and q.geography_code = pairs.geography_code
            and q.breakdown_type = pairs.breakdown_type and q.breakdown_value = pairs.breakdown_value
            and q.is_quarter and q.months = 3
            and ((q.period_start >= pairs.a_start and q.period_end <= pairs.a_end
                  and (q.period_end < pairs.b_start or q.period_start > pairs.b_end))
              or (q.period_start >= pairs.b_start and q.period_end <= pairs.b_end
                  and (q.period_end < pairs.a_start or q.period_start > pairs.a_end)))
    ) as pair_parts
    cross join lateral (values (pair_parts.cell_id, false), (pair_parts.a_id, true), (pair_parts.b_id, true))
        as member(cell_id, is_total)
    where pair_parts.is_tiled

),

cs_equations as (

    select distinct equation_id, cell_id, is_total from cs_members

),

cs_round_0 as (

    select cell_id, is_withheld_already as is_withheld from cs_keyed

),
{%- for r in range(1, rounds + 2) %}

cs_pick_{{ r }} as (

    select distinct on (eq.equation_id) eq.cell_id
    from cs_equations as eq
    inner join cs_round_{{ r - 1 }} as state using (cell_id)
    inner join cs_keyed as cell using (cell_id)
    where not state.is_withheld
      and eq.equation_id in (
          select unknowns.equation_id
          from cs_equations as unknowns
          inner join cs_round_{{ r - 1 }} as unknown_state using (cell_id)
          group by unknowns.equation_id
          having count(*) filter (where unknown_state.is_withheld) = 1)
    order by eq.equation_id, cell.geography_rank, eq.is_total, cell.size, cell.cell_id

),

cs_round_{{ r }} as (

    select cell_id, is_withheld or cell_id in (select cell_id from cs_pick_{{ r }}) as is_withheld
    from cs_round_{{ r - 1 }}

),
{%- endfor %}

cs_final as (

    select
        cs_keyed.family, cs_keyed.geography_code, cs_keyed.period_type, cs_keyed.period_label,
        cs_keyed.breakdown_type, cs_keyed.breakdown_value, cs_keyed.is_primary,
        -- a build that would still need another round fails rather than publish a number that can be solved for
        -- (the message names a column, so the planner cannot fold the failing cast before the count is known)
        case when (select count(*) from cs_pick_{{ rounds + 1 }}) = 0 then state.is_withheld
             else ('secondary suppression in ' || '{{ relation }}' || ' did not settle in {{ rounds }} rounds: '
                   || 'raise the rounds argument of complementary_suppression_ctes (' || cs_keyed.family || ')')::boolean
             end as is_withheld
    from cs_keyed
    inner join cs_round_{{ rounds }} as state using (cell_id)

)
{%- endmacro %}


{#- (family, geography code) of every figure the dashboard shows, at the catalogue's `geography` (county,
    force_area, or yos_footprint): in a source KPI mart (cells keyed by kpi_code) the active indicator's source
    kpi_code; in fct_kpi (keyed by indicator_id) the indicator itself. -#}
{% macro board_geographies(families, code_column='kpi_code') -%}
    {%- set codes = {'county': var('county_code'), 'force_area': var('force_area_code'),
                     'yos_footprint': var('yos_footprint')} -%}
    {%- set out = [] -%}
    {%- for indicator in active_indicators() -%}
        {%- set board_code = codes.get(indicator.geography, var('county_code')) -%}
        {%- if code_column == 'indicator_id' -%}
            {%- do out.append((indicator.id, board_code)) -%}
        {%- elif indicator.source and indicator.source.kpi_code -%}
            {%- set code = indicator.source.kpi_code -%}
            {%- do out.append((families.get(code, code), board_code)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out | unique | list) }}
{%- endmacro %}


{#- The disclosure unit an indicator's cells belong to (its own code unless `families` maps it to another's). -#}
{% macro suppression_family(code_column, families) -%}
    {%- if families -%}
    case {{ code_column }}
        {%- for code, family in families.items() %} when '{{ code }}' then '{{ family }}'{% endfor %}
        else {{ code_column }} end
    {%- else -%}
    {{ code_column }}
    {%- endif -%}
{%- endmacro %}
