{#- Links between Sentinel ASB cases and the Storm incidents they duplicate, each with its method, score and reason.

    A Fellegi-Sunter model whose weights are learnt from the night's own records by expectation maximisation (as
    Splink does), then a one-to-one assignment:

    1. Candidate pairs from equi-join blocks Postgres hash-joins at any volume, none needing a person: the Storm
       number (read at landing, any date); within the district, the same surname or house number and street
       within three days, or a surname that sounds the same (Soundex) within a day (keyed pseudonyms made at
       landing); and the same LSOA the same day, a day apart, or two or three days apart, the same district and
       date, or the same MSOA within three days, each only for a case whose block holds at most
       var('asb_link_block_cap') incidents (a bigger one cannot name one of them on place and time alone, and its
       pairs would grow with the square of the density).
    2. Each pair's comparison vector: Storm number (agrees and plausible: within three days or the same LSOA /
       agrees but disagrees on both time and place / another number / none), days apart (0 / 1 / 2-3 / more),
       place (same LSOA / same MSOA / another / unknown), person (initial and surname / surname / Soundex /
       another / unknown), postcode (unit / district / another / unknown), address (same house number and street /
       another / unknown), PEN category and ASB type (both / one / neither). 'unknown' (missing on either side)
       weighs nothing, as Splink's null level.
       A pair's levels travel as one integer, its pattern, and the records as integer ids (a pair of text ids and
       seven text levels made every sort and hash of the pairs spill to disk: 71 s at 700,000 records, 30 s with
       integers), and every key the pairs are joined and compared on as a 64-bit hash (macros/join_key.sql: 22 s).
    3. EM over the distinct vectors and their counts (a few hundred rows, however many pairs): m and u of every
       level and the match share, var('asb_link_em_iterations') rounds, unrolled; u starts from exact
       value-frequency counts over every same-district pair.
    4. One-to-one probabilities: a pair weighed against the case's other candidates and against the chance the
       case duplicates nothing (the share of duplicating cases learnt per origin by EM); then rounds of mutual best:
       a pair at or above var('asb_link_threshold') links when it is both its case's and its incident's best
       remaining candidate (a plausible Storm number first), var('asb_link_assignment_rounds') times.

    A Storm number that agrees but disagrees on both time and place (a transposed digit often names another real
    incident) is a level of its own: EM learns how little it is worth, so it is scored, never trusted. -#}
{%- set threshold = var('asb_link_threshold', 0.3) -%}
{%- set iterations = var('asb_link_em_iterations', 10) -%}
{%- set rounds = var('asb_link_assignment_rounds', 4) -%}
{%- set block_cap = var('asb_link_block_cap', 12) -%}
{%- set share_iterations = var('asb_link_share_iterations', 10) -%}
{#- Each comparison's levels in order, each with the condition that picks it (the last takes what is left) and
    the m EM starts from (EM moves it; u starts at the level's share of all candidate pairs). A pair's levels are
    one integer, its pattern (the levels' indexes in mixed radix): the few million candidate pairs are sorted and
    hashed as one integer each, and the level names are read back once per distinct pattern. -#}
{%- set days = 'abs(sentinel.incident_on - storm.incident_date)' -%}
{%- set same_pen = 'coalesce(sentinel.pen_category = storm.pen_category, false)' -%}
{%- set same_type = 'coalesce(sentinel.asb_type = storm.asb_type, false)' -%}
{%- set comparisons = {
    'reference': [
        ('none', 'sentinel.storm_incident_number is null', 0.40),
        ('other_number', 'sentinel.storm_incident_number <> storm.incident_key', 0.04),
        ('agrees', days ~ ' <= 3 or sentinel.lsoa_code = storm.lsoa_code', 0.55),
        ('agrees_implausible', none, 0.01)],
    'days_apart': [
        ('0', days ~ ' = 0', 0.6),
        ('1', days ~ ' = 1', 0.2),
        ('2-3', days ~ ' between 2 and 3', 0.15),
        ('more', none, 0.05)],
    'lsoa': [
        ('unknown', 'sentinel.lsoa_code is null or storm.lsoa_code is null', 0.10),
        ('same', 'sentinel.lsoa_code = storm.lsoa_code', 0.7),
        ('same_msoa', 'sentinel.msoa_name = storm.msoa_name', 0.1),
        ('different', none, 0.1)],
    'person': [
        ('unknown', 'sentinel.surname is null or storm.surname is null', 0.3),
        ('initial_surname', 'sentinel.initial_surname = storm.initial_surname', 0.5),
        ('surname', 'sentinel.surname = storm.surname', 0.1),
        ('surname_sound', 'sentinel.surname_sound = storm.surname_sound', 0.05),
        ('different', none, 0.05)],
    'postcode': [
        ('unknown', 'sentinel.postcode_unit is null or storm.postcode_unit is null', 0.1),
        ('unit', 'sentinel.postcode_unit = storm.postcode_unit', 0.6),
        ('district', 'sentinel.postcode_district = storm.postcode_district', 0.2),
        ('different', none, 0.1)],
    'address': [
        ('unknown', 'sentinel.address is null or storm.address is null', 0.3),
        ('same', 'sentinel.address = storm.address', 0.5),
        ('different', none, 0.2)],
    'category': [
        ('both', same_pen ~ ' and ' ~ same_type, 0.7),
        ('one', same_pen ~ ' or ' ~ same_type, 0.25),
        ('neither', none, 0.05)],
} -%}
{%- set radix = namespace(stride=1, terms=[], names=[]) -%}
{%- for comparison, levels in comparisons.items() %}
    {%- set whens = [] %}
    {%- for name, condition, m in levels if condition is not none %}
        {%- do whens.append('when ' ~ condition ~ ' then ' ~ loop.index0) %}
    {%- endfor %}
    {%- do radix.terms.append(
        '(case ' ~ whens | join(' ') ~ ' else ' ~ (levels | length - 1) ~ ' end) * ' ~ radix.stride) %}
    {%- do radix.names.append("(array['" ~ levels | map(attribute=0) | join("', '") ~ "'])[pattern / " ~ radix.stride
        ~ ' % ' ~ (levels | length) ~ ' + 1] as ' ~ comparison) %}
    {%- set radix.stride = radix.stride * (levels | length) %}
{%- endfor %}
{%- set pattern = radix.terms | join('\n            + ') ~ ' as pattern' -%}
{{ config(pre_hook=["set local work_mem = '64MB'", "set local enable_mergejoin = off"]) }}
with

msoa as (

    -- an LSOA's MSOA is its name less the final letter ('Leicester 003A' is in 'Leicester 003'): LSOAs that touch
    select lsoa11cd as lsoa_code, left(lsoa11nm, length(lsoa11nm) - 1) as msoa_name
    from {{ ref('ons_lsoa11_to_lad19') }}

),

storm as materialized (

    select
        -- integers for the pairs to be sorted and hashed by, in the order of the ids (ties break as by the ids)
        row_number() over (order by incident_number) as storm_id,
        incident_number, {{ join_key('incident_key') }} as incident_key, incident_date,
        {{ join_key('district_code') }} as district_code, {{ join_key('lsoa_code') }} as lsoa_code,
        pen_category, asb_type, {{ person_evidence('caller') }},
        {{ join_key('msoa.msoa_name') }} as msoa_name
    from {{ ref('stg_storm_asb__incidents') }}
    left join msoa using (lsoa_code)

),

sentinel as materialized (

    select
        row_number() over (order by case_id) as sentinel_id,
        case_id, {{ join_key('storm_incident_number') }} as storm_incident_number, storm_reference_form,
        originating_agency, incident_on, {{ join_key('district_code') }} as district_code,
        {{ join_key('lsoa_code') }} as lsoa_code, pen_category, asb_type, {{ person_evidence('victim') }},
        {{ join_key('msoa.msoa_name') }} as msoa_name
    from {{ ref('stg_sentinel_asb__cases') }}
    left join msoa using (lsoa_code)
    where case_type = 'ASB'

),

sentinel_days as (

    -- the blocking keys alone: seven rows a case, read by every block
    select
        sentinel.sentinel_id, sentinel.district_code, sentinel.lsoa_code, sentinel.msoa_name, sentinel.surname,
        sentinel.surname_sound,
        sentinel.address, sentinel.incident_on + shift as block_date, abs(shift) as block_shift
    from sentinel
    cross join generate_series(-3, 3) as shift

),

small_blocks as materialized (

    select
        s.sentinel_id,
        coalesce(sum(d.incidents) filter (where s.block_shift = 0), 0) <= {{ block_cap }} as district_day,
        coalesce(sum(m.incidents), 0) <= {{ block_cap }} as msoa_week,
        coalesce(sum(l.incidents) filter (where s.block_shift <= 1), 0) <= {{ block_cap }} as lsoa_days,
        coalesce(sum(l.incidents) filter (where s.block_shift = 0), 0) <= {{ block_cap }} as lsoa_day,
        coalesce(sum(l.incidents), 0) <= {{ block_cap }} as lsoa_week
    from sentinel_days as s
    left join (select district_code, incident_date, count(*) as incidents from storm
               group by district_code, incident_date) as d
        on d.district_code = s.district_code and d.incident_date = s.block_date and s.block_shift = 0
    left join (select district_code, msoa_name, incident_date, count(*) as incidents from storm
               group by district_code, msoa_name, incident_date) as m
        on m.district_code = s.district_code and m.msoa_name = s.msoa_name and m.incident_date = s.block_date
    left join (select lsoa_code, incident_date, count(*) as incidents from storm group by lsoa_code, incident_date) as l
        on l.lsoa_code = s.lsoa_code and l.incident_date = s.block_date
    group by s.sentinel_id

),

candidate_ids as (

    -- the same surname within three days (which the same initial and surname implies); a surname that only sounds
    -- the same (Soundex, which the same surname implies) within a day: a Soundex code is shared by many surnames,
    -- and over three days at twenty times the county's density it made more pairs than any other block, found no
    -- more true ones (recall 0.8612 both ways at 355,000 records) and grew with the square of the density
    select sentinel.sentinel_id, storm.storm_id
    from sentinel
    inner join storm on storm.incident_key = sentinel.storm_incident_number
    {%- for key, days in [('surname', 3), ('surname_sound', 1), ('address', 3)] %}
    union
    select s.sentinel_id, storm.storm_id
    from sentinel_days as s
    inner join storm
        on storm.{{ key }} = s.{{ key }} and storm.district_code = s.district_code
        and storm.incident_date = s.block_date
    {%- if days < 3 %}
    where s.block_shift <= {{ days }}
    {%- endif %}
    {%- endfor %}
    -- the same LSOA: the same day where that day is small, a day apart where the LSOA's three days are, two or
    -- three days apart where its week is
    union
    select s.sentinel_id, storm.storm_id
    from sentinel_days as s
    inner join small_blocks using (sentinel_id)
    inner join storm
        on storm.lsoa_code = s.lsoa_code and storm.district_code = s.district_code
        and storm.incident_date = s.block_date
    where (s.block_shift = 0 and small_blocks.lsoa_day) or (s.block_shift = 1 and small_blocks.lsoa_days)
        or small_blocks.lsoa_week
    {#- the wide blocks only where they are small: a case's district-day or MSOA-week holding more incidents than
        that cannot name one of them on place and time alone, and its pairs would grow with the square of density #}
    union
    select s.sentinel_id, storm.storm_id
    from sentinel_days as s
    inner join small_blocks using (sentinel_id)
    inner join storm on storm.district_code = s.district_code and storm.incident_date = s.block_date
    where small_blocks.district_day and s.block_shift = 0
    union
    select s.sentinel_id, storm.storm_id
    from sentinel_days as s
    inner join small_blocks using (sentinel_id)
    inner join storm
        on storm.msoa_name = s.msoa_name and storm.district_code = s.district_code
        and storm.incident_date = s.block_date
    where small_blocks.msoa_week

),


{# u: the share of each level among all pairs of a Sentinel case and a Storm incident of the same district (the
    population blocking draws from), counted exactly from value frequencies, never by forming the pairs -#}
district_sizes as (

    select
        district_code,
        s.cases, s.with_lsoa as s_lsoa, s.with_person as s_person, s.with_postcode as s_postcode,
        s.with_reference as s_reference, s.with_address as s_address,
        t.incidents, t.with_lsoa as t_lsoa, t.with_person as t_person, t.with_postcode as t_postcode,
        t.with_address as t_address
    from (
        select district_code, count(*)::float8 as cases, count(lsoa_code)::float8 as with_lsoa,
            count(surname)::float8 as with_person, count(postcode_unit)::float8 as with_postcode,
            count(storm_incident_number)::float8 as with_reference, count(address)::float8 as with_address
        from sentinel group by district_code
    ) as s
    inner join (
        select district_code, count(*)::float8 as incidents, count(lsoa_code)::float8 as with_lsoa,
            count(surname)::float8 as with_person, count(postcode_unit)::float8 as with_postcode,
            count(address)::float8 as with_address
        from storm group by district_code
    ) as t using (district_code)

),

{%- set keyed = {'lsoa': 'lsoa_code', 'msoa': 'msoa_name', 'initial_surname': 'initial_surname', 'surname': 'surname',
                 'surname_sound': 'surname_sound', 'postcode_unit': 'postcode_unit',
                 'postcode_district': 'postcode_district', 'pen': 'pen_category', 'type': 'asb_type',
                 'pen_type': "pen_category || '|' || asb_type", 'reference': 'incident_key', 'address': 'address'} %}

same_value_pairs as (

    {%- for name, expr in keyed.items() %}
    {% if not loop.first %}union all{% endif %}
    select '{{ name }}' as key, sum(s.n * t.n) as pairs
    from (select district_code, {{ 'storm_incident_number' if name == 'reference' else expr }} as v,
                 count(*)::float8 as n
          from sentinel group by district_code, v) as s
    inner join (select district_code, {{ expr }} as v, count(*)::float8 as n from storm group by district_code, v) as t
        using (district_code, v)
    {%- endfor %}

),

same_value as (

    select
        {%- for name in keyed %}
        coalesce(max(pairs) filter (where key = '{{ name }}'), 0) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from same_value_pairs

),

days_pairs as (

    select
        coalesce(sum(s.n * t.n) filter (where s.d = t.d), 0) as days_0,
        coalesce(sum(s.n * t.n) filter (where abs(s.d - t.d) = 1), 0) as days_1,
        coalesce(sum(s.n * t.n) filter (where abs(s.d - t.d) between 2 and 3), 0) as days_2_3,
        greatest(1, coalesce(sum(s.n * t.n), 0)) as window_pairs
    from (select district_code, incident_on as d, count(*)::float8 as n from sentinel group by district_code, d) as s
    inner join (select district_code, incident_date as d, count(*)::float8 as n from storm group by district_code, d)
        as t
        on t.district_code = s.district_code and t.d between s.d - 3 and s.d + 3

),

population as (

    select
        sum(cases * incidents) as pairs,
        sum(s_lsoa * t_lsoa) as lsoa_known,
        sum(s_person * t_person) as person_known,
        sum(s_postcode * t_postcode) as postcode_known,
        sum(s_reference * incidents) as reference_known,
        sum(s_address * t_address) as address_known
    from district_sizes

),

u_fixed (comparison, level, u) as (

    select v.comparison, v.level, greatest(v.pairs / population.pairs, 1e-9)
    from population
    cross join same_value
    cross join days_pairs
    cross join lateral (values
        -- a number both sides agree on is counted once for both agreeing levels: the few it is are mostly true
        ('reference', 'agrees', same_value.reference),
        ('reference', 'agrees_implausible', same_value.reference),
        ('reference', 'other_number', population.reference_known - same_value.reference),
        ('reference', 'none', population.pairs - population.reference_known),
        -- EM's population is the three-day window (and the Storm-number pairs), so days apart is counted within it
        ('days_apart', '0', days_pairs.days_0 * population.pairs / days_pairs.window_pairs),
        ('days_apart', '1', days_pairs.days_1 * population.pairs / days_pairs.window_pairs),
        ('days_apart', '2-3', days_pairs.days_2_3 * population.pairs / days_pairs.window_pairs),
        ('days_apart', 'more', same_value.reference * population.pairs / days_pairs.window_pairs),
        ('lsoa', 'same', same_value.lsoa),
        ('lsoa', 'same_msoa', same_value.msoa - same_value.lsoa),
        ('lsoa', 'different', population.lsoa_known - same_value.msoa),
        ('lsoa', 'unknown', population.pairs - population.lsoa_known),
        ('person', 'initial_surname', same_value.initial_surname),
        ('person', 'surname', same_value.surname - same_value.initial_surname),
        ('person', 'surname_sound', same_value.surname_sound - same_value.surname),
        ('person', 'different', population.person_known - same_value.surname_sound),
        ('person', 'unknown', population.pairs - population.person_known),
        ('postcode', 'unit', same_value.postcode_unit),
        ('postcode', 'district', same_value.postcode_district - same_value.postcode_unit),
        ('postcode', 'different', population.postcode_known - same_value.postcode_district),
        ('postcode', 'unknown', population.pairs - population.postcode_known),
        ('address', 'same', same_value.address),
        ('address', 'different', population.address_known - same_value.address),
        ('address', 'unknown', population.pairs - population.address_known),
        ('category', 'both', same_value.pen_type),
        ('category', 'one', same_value.pen + same_value.type - 2 * same_value.pen_type),
        ('category', 'neither', population.pairs - same_value.pen - same_value.type + same_value.pen_type)
    ) as v (comparison, level, pairs)

),

compared as materialized (

    select
        c.sentinel_id,
        c.storm_id,
        {{ pattern }}
    from candidate_ids as c
    inner join sentinel using (sentinel_id)
    inner join storm using (storm_id)

),

{# EM runs on a consistent population: every same-district pair within three days, plus the Storm-number pairs.
    Not on the candidates alone (blocking keeps pairs because they agree, which would teach EM that agreeing is
    common), and without forming every pair: the candidates count once each (they hold nearly every true pair, so
    m is learnt from all of them), the other pairs of the window are those of a sample of cases, each counting for
    1/fraction pairs, the fraction sized to about var('asb_link_em_pairs') pairs. -#}
em_sampling as (

    select least(1.0, {{ var('asb_link_em_pairs', 60000) }} / greatest(1, days_0 + days_1 + days_2_3)) as fraction
    from days_pairs

),

em_cases as materialized (

    select sentinel.*
    from sentinel
    cross join em_sampling
    where abs(hashtext(sentinel.case_id)) % 100000 < em_sampling.fraction * 100000

),

{# the sampled cases' own candidates, found from the few cases, and their days: an anti-join straight to every
    candidate pair hashed all of them (128 batches of temporary files at 355,000 records), and a join on the district
    alone read every incident of the year for each sampled case #}
em_days as materialized (

    select
        em_cases.sentinel_id,
        em_cases.district_code,
        em_cases.incident_on + shift as block_date,
        coalesce(known.storm_ids, '{}') as known_storm_ids
    from em_cases
    left join (
        select c.sentinel_id, array_agg(c.storm_id) as storm_ids
        from candidate_ids as c
        where c.sentinel_id in (select em_cases.sentinel_id from em_cases)
        group by c.sentinel_id
    ) as known using (sentinel_id)
    cross join generate_series(-3, 3) as shift

),

em_others as materialized (

    select
        {{ pattern }}
    from em_days
    inner join storm on storm.district_code = em_days.district_code and storm.incident_date = em_days.block_date
    inner join em_cases as sentinel using (sentinel_id)
    where storm.storm_id <> all(em_days.known_storm_ids)

),

patterns as materialized (

    select
        pattern,
        sum(pairs)::float8 as pairs,
        {{ radix.names | join(',\n        ') }}
    from (
        select pattern, count(*)::float8 as pairs
        from compared
        group by pattern
        union all
        select pattern, count(*) / (select fraction from em_sampling) as pairs
        from em_others
        group by pattern
    ) as counted
    group by pattern

),

{# A value missing on either side ('unknown') is no evidence either way (Splink's null level): it has no m or u
    and weighs nothing; m and u of the other levels are shares of the pairs where both sides are known. Left in,
    the missing values, which come together (an anonymous caller gives no name, postcode or address), made a
    cluster EM took for the matches. -#}
pattern_levels as materialized (

    select pattern, pairs, comparison, level
    from patterns
    cross join lateral (values
        ('reference', reference), ('days_apart', days_apart), ('lsoa', lsoa), ('person', person),
        ('postcode', postcode), ('address', address), ('category', category)) as v (comparison, level)
    where level <> 'unknown'

),

m_start (comparison, level, m) as (

    {%- set starts = [] %}
    {%- for comparison, levels in comparisons.items() %}{% for level, condition, m in levels %}
    {%- do starts.append("('" ~ comparison ~ "', '" ~ level ~ "', " ~ m ~ "::float8)") %}
    {%- endfor %}{% endfor %}
    values {{ starts | join(', ') }}

),

params_0 as (

    select
        m_start.comparison, m_start.level,
        m_start.m / sum(m_start.m) over (partition by m_start.comparison) as m,
        u_fixed.u / sum(u_fixed.u) over (partition by m_start.comparison) as u
    from m_start
    inner join u_fixed using (comparison, level)
    where level <> 'unknown'

),

lambda_0 as (

    -- at most one true pair per case: a third of the cases matching is where EM starts
    select least(0.5, (select count(*) from sentinel)::float8 / 3 / greatest(1, (select sum(pairs) from patterns)))
        as lambda

),

{#- EM: the posterior of every distinct comparison vector, then m and lambda from them; u stays as counted (as
    Splink fixes u from random pairs): letting it move let EM settle on a cluster of "no person known" pairs at
    five times the county's density -#}
{%- for i in range(iterations) %}

posterior_{{ i }} as materialized (

    select
        pattern_levels.pattern,
        pattern_levels.pairs,
        1 / (1 + (1 - l.lambda) / l.lambda
            * exp(least(700, sum(ln(p.u)) - sum(ln(p.m))))) as probability
    from pattern_levels
    inner join params_{{ i }} as p using (comparison, level)
    cross join lambda_{{ i }} as l
    group by pattern_levels.pattern, pattern_levels.pairs, l.lambda

),

lambda_{{ i + 1 }} as materialized (

    select least(0.999, greatest(1e-9, sum(pairs * probability) / sum(pairs))) as lambda
    from posterior_{{ i }}

),

params_{{ i + 1 }} as materialized (

    select
        p.comparison,
        p.level,
        greatest(1e-6, coalesce(e.m, 0)) as m,
        p.u
    from params_{{ i }} as p
    left join (
        select
            pattern_levels.comparison,
            pattern_levels.level,
            sum(pattern_levels.pairs * probability)
                / nullif(sum(sum(pattern_levels.pairs * probability)) over (partition by comparison), 0) as m,
            sum(pattern_levels.pairs * (1 - probability))
                / nullif(sum(sum(pattern_levels.pairs * (1 - probability))) over (partition by comparison), 0) as u
        from pattern_levels
        inner join posterior_{{ i }} using (pattern)
        group by pattern_levels.comparison, pattern_levels.level
    ) as e using (comparison, level)

),

{%- endfor %}

weights as (

    select comparison, level, ln(m / u) as weight from params_{{ iterations }}

),

scored_patterns as materialized (

    select
        patterns.pattern,
        patterns.reference = 'agrees' as reference_agrees,
        ln(l.lambda / (1 - l.lambda)) + evidence.weight as match_weight
    from patterns
    inner join (
        -- a level the sample never showed adds no evidence
        select pattern_levels.pattern, sum(coalesce(weights.weight, 0)) as weight
        from pattern_levels
        left join weights using (comparison, level)
        group by pattern_levels.pattern
    ) as evidence using (pattern)
    cross join lambda_{{ iterations }} as l

),

{# One to one: a case duplicates at most one incident, so a pair's probability is weighed against the case's other
    candidates and against the chance that the case duplicates none (Fellegi-Sunter scores pairs one at a time):
        p(i,j) = (share / n_i) LR(i,j) / ((1 - share) + (share / n_i) * sum over k of LR(i,k))
    where LR is the pair's likelihood ratio m/u, n_i the incidents of the case's district within three days of it,
    and share the part of cases that duplicate a Storm incident, for each origin (police-originated or council),
    learnt each night by EM: the cases' expected number of matches under these probabilities. -#}
pair_ratios as materialized (

    select
        compared.*,
        scored_patterns.reference_agrees,
        scored_patterns.match_weight - ln(l.lambda / (1 - l.lambda)) as log_ratio,
        1 / (1 + exp(-scored_patterns.match_weight)) as pairwise_probability
    from compared
    inner join scored_patterns using (pattern)
    cross join lambda_{{ iterations }} as l

),

case_evidence as materialized (

    select
        sentinel.sentinel_id,
        sentinel.originating_agency,
        greatest(1, coalesce(w.window_incidents, 0)) as window_incidents,
        coalesce(r.ratio_sum, 0) as ratio_sum,
        least(1.0, coalesce(r.expected_matches, 0)) as expected_matches
    from sentinel
    left join (
        select sentinel_id, sum(exp(least(700, log_ratio))) as ratio_sum,
            sum(pairwise_probability) as expected_matches
        from pair_ratios group by sentinel_id
    ) as r using (sentinel_id)
    left join (
        select s.sentinel_id, sum(t.incidents) as window_incidents
        from sentinel_days as s
        inner join (select district_code, incident_date, count(*) as incidents from storm
                    group by district_code, incident_date) as t
            on t.district_code = s.district_code and t.incident_date = s.block_date
        group by s.sentinel_id
    ) as w using (sentinel_id)

),

origin_share_0 as (

    select originating_agency, least(0.98, greatest(0.001, avg(expected_matches))) as share
    from case_evidence
    group by originating_agency

),

{#- then EM on the share itself: the cases' expected matches under the one-to-one probabilities -#}
{%- for k in range(share_iterations) %}

origin_share_{{ k + 1 }} as materialized (

    select
        case_evidence.originating_agency,
        least(0.98, greatest(0.001, avg(
            (o.share / window_incidents) * ratio_sum
            / ((1 - o.share) + (o.share / window_incidents) * ratio_sum)))) as share
    from case_evidence
    inner join origin_share_{{ k }} as o using (originating_agency)
    group by case_evidence.originating_agency

),

{%- endfor %}

origin_share as (

    select * from origin_share_{{ share_iterations }}

),

scored as (

    select
        pair_ratios.*,
        p.probability as match_probability,
        ln(p.probability / greatest(1e-12, 1 - p.probability)) as final_weight
    from pair_ratios
    inner join case_evidence using (sentinel_id)
    inner join origin_share using (originating_agency)
    cross join lateral (
        select least(1 - 1e-12, (share / window_incidents) * exp(least(700, pair_ratios.log_ratio))
            / ((1 - share) + (share / window_incidents) * ratio_sum)) as probability
    ) as p
    where p.probability >= {{ threshold }}

),

{#- rounds of mutual best: what a round links leaves the next round's candidates -#}
{%- for r in range(rounds) %}

ranked_{{ r }} as (

    select
        s.*,
        row_number() over (partition by s.sentinel_id
            order by s.reference_agrees desc, s.final_weight desc, s.storm_id asc) as rank_for_case,
        row_number() over (partition by s.storm_id
            order by s.reference_agrees desc, s.final_weight desc, s.sentinel_id asc) as rank_for_incident
    from scored as s
    {%- if r > 0 %}
    {#- the distinct keys, not the rows: the planner sizes an anti-join's hash by its guess of the inner side, which
        for a CTE chain is billions of rows (32,768 batches of temporary files, 55 s a round at 700,000 records);
        for a distinct list it guesses a few hundred, and the hash grows at run time to the real size #}
    where not exists (select from (select distinct sentinel_id from assigned_{{ r - 1 }}) as a
                      where a.sentinel_id = s.sentinel_id)
        and not exists (select from (select distinct storm_id from assigned_{{ r - 1 }}) as a
                        where a.storm_id = s.storm_id)
    {%- endif %}

),

assigned_{{ r }} as (

    {% if r > 0 -%}
    select * from assigned_{{ r - 1 }}
    union all
    {% endif -%}
    select sentinel_id, storm_id, pattern, match_probability
    from ranked_{{ r }}
    where rank_for_case = 1 and rank_for_incident = 1

),

{%- endfor %}

final as (

    select
        case_id,
        incident_number,
        case when reference = 'agrees' then 'storm_reference' else 'scored_match' end as link_method,
        round(match_probability::numeric, 4) as link_score,
        concat_ws(', ',
            case reference
                when 'agrees' then 'same Storm number'
                when 'agrees_implausible' then 'same Storm number but more than 3 days apart and another LSOA'
                when 'other_number' then 'another Storm number'
            end,
            case days_apart when '0' then 'same date' when 'more' then 'more than 3 days apart'
                else days_apart || ' day(s) apart' end,
            case lsoa when 'same' then 'same LSOA' when 'same_msoa' then 'a neighbouring LSOA (same MSOA)'
                when 'different' then 'another LSOA' end,
            case person
                when 'initial_surname' then 'same initial and surname (pseudonyms)'
                when 'surname' then 'same surname (pseudonym)'
                when 'surname_sound' then 'surname sounds the same (pseudonym)'
                when 'different' then 'another person'
            end,
            case postcode when 'unit' then 'same postcode (pseudonym)' when 'district' then 'same postcode district'
            end,
            case address when 'same' then 'same house number and street (pseudonym)' end,
            case category when 'both' then 'same PEN category and ASB type'
                when 'one' then 'same PEN category or ASB type' end
        ) as link_reason
    from (
        -- the level names read from the pattern itself: a join to the patterns, which the planner cannot size,
        -- was a nested loop over every pattern for every link (44 s at 700,000 records)
        select
            sentinel.case_id,
            storm.incident_number,
            assigned.match_probability,
            {{ radix.names | join(',\n            ') }}
        from assigned_{{ rounds - 1 }} as assigned
        inner join sentinel using (sentinel_id)
        inner join storm using (storm_id)
    ) as links

)

select * from final
