{#- Incremental by load, for a build that always starts in a fresh schema.

    Each night builds into a new build schema and publish swaps it in, so dbt's own `is_incremental()` (which looks for
    {{ this }} in the same schema) never finds last night's table. Instead a model that is a union of per-load work
    (rows of one landed file never change: raw is append-only, a restatement is a new load) carries forward the rows of
    the loads it already processed from the last published build's copy of itself (cspwh passes that build in
    CSPWH_PREVIOUS_BUILD), and computes only the loads that are new since. A load no longer current (its period was
    restated, or an accepted empty restatement emptied it) drops out, so a period is replaced, never doubled.

    The set of current loads is read once, here, and inlined as literals: the table then matches exactly the load set
    recorded beside it in <model>__loads, even if a file lands while the build runs (the next build picks it up).

    Full rebuild instead when: CSPWH_INCREMENTAL is off; there is no published build or it has no state for this
    model; the model's code or the vars it reads changed (hash of its source); the reference data it joins changed
    (hash of the seeds' rows). The reason is in the dbt log.

    A model that reads one stream of the feed (one force of police.uk) passes `stream`: its plan then holds that
    stream's loads only, so a new month of every other force is not read at all. -#}
{% macro incremental_by_load_plan(feed, entity, seeds=[], vars_read=[], stream=none) %}
    {%- set plan = {'incremental': false, 'reason': 'not executing', 'current': [], 'kept': [], 'fresh': [],
                    'previous': none, 'code_hash': '', 'reference_hash': ''} -%}
    {%- if not execute -%}{{ return(plan) }}{%- endif -%}

    {%- set current_sql -%}
        select file_id from {{ source('landing', 'file_manifest') }} as m
        where outcome = 'loaded' and feed = '{{ feed }}' and entity = '{{ entity }}'
          {%- if stream is not none %} and stream = '{{ stream }}'{% endif %}
          and file_id = (select max(file_id) from {{ source('landing', 'file_manifest') }} as n
                         where n.outcome = 'loaded' and n.feed = m.feed and n.entity = m.entity
                           and n.stream is not distinct from m.stream and n.period is not distinct from m.period)
        order by file_id
    {%- endset -%}
    {%- set current = run_query(current_sql).columns[0].values() | map('int') | list -%}
    {%- do plan.update({'current': current}) -%}

    {#- the model's own source, the vars it reads and this macro's revision: a change to any means a full rebuild -#}
    {%- set var_values = [] -%}
    {%- for v in vars_read -%}{%- do var_values.append(v ~ '=' ~ tojson(var(v))) -%}{%- endfor -%}
    {%- set hashed = model.raw_code ~ '|' ~ var_values | join('|') ~ '|incremental_by_load v1' -%}
    {%- do plan.update({'code_hash': local_md5(hashed)}) -%}

    {%- set ref_hash = [] -%}
    {%- for s in seeds -%}
        {%- set q -%}select coalesce(md5(string_agg(t::text, E'\n' order by t::text)), '') from {{ ref(s) }} as t{%- endset -%}
        {%- do ref_hash.append(s ~ ':' ~ run_query(q).columns[0].values()[0]) -%}
    {%- endfor -%}
    {%- do plan.update({'reference_hash': local_md5(ref_hash | join('|'))}) -%}

    {%- set previous_build = env_var('CSPWH_PREVIOUS_BUILD', '') -%}
    {%- set previous_schema = previous_build_schema(this.schema) -%}
    {%- if not incremental_switched_on() -%}
        {%- do plan.update({'reason': 'CSPWH_INCREMENTAL is off'}) -%}
    {%- elif not previous_build -%}
        {%- do plan.update({'reason': 'no published build'}) -%}
    {%- else -%}
        {%- set previous = adapter.get_relation(this.database, previous_schema, this.identifier) -%}
        {%- set state = adapter.get_relation(this.database, previous_schema, this.identifier ~ '__loads') -%}
        {%- if previous is none or state is none -%}
            {%- do plan.update({'reason': 'the published build ' ~ previous_build ~ ' has no ' ~ this.identifier ~ ' with its load state'}) -%}
        {%- else -%}
            {#- as text: agate hands a Postgres array back as its literal, not a list -#}
            {%- set row = run_query("select code_hash, reference_hash, array_to_string(load_ids, ',') from "
                                    ~ state).rows[0] -%}
            {%- if row[0] != plan.code_hash -%}
                {%- do plan.update({'reason': 'the model or its vars changed since ' ~ previous_build}) -%}
            {%- elif row[1] != plan.reference_hash -%}
                {%- do plan.update({'reason': 'its reference data changed since ' ~ previous_build}) -%}
            {%- else -%}
                {%- set before = (row[2] or '').split(',') | reject('equalto', '') | map('int') | list -%}
                {%- set kept = current | select('in', before) | list -%}
                {%- set fresh = current | reject('in', before) | list -%}
                {%- do plan.update({'incremental': true, 'previous': previous, 'kept': kept, 'fresh': fresh,
                                    'reason': 'incremental from ' ~ previous_build}) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {%- do log(this.identifier ~ ': ' ~ plan.reason ~ ' (' ~ current | length ~ ' current loads, '
               ~ (plan.kept | length if plan.incremental else 0) ~ ' carried forward, '
               ~ (plan.fresh | length if plan.incremental else current | length) ~ ' computed)', info=true) -%}
    {{ return(plan) }}
{% endmacro %}


{#- whether a build may reuse the published build's work (CSPWH_INCREMENTAL, on unless set to 0/false/no/off) -#}
{% macro incremental_switched_on() %}
    {{ return(env_var('CSPWH_INCREMENTAL', '1') | lower not in ('0', 'false', 'no', 'off')) }}
{% endmacro %}


{#- the published build's copy of one of this build's schemas ('' when nothing is published: CSPWH_PREVIOUS_BUILD) -#}
{% macro previous_build_schema(schema) %}
    {%- set previous_build = env_var('CSPWH_PREVIOUS_BUILD', '') -%}
    {{ return(schema | replace(target.schema, previous_build, 1) if previous_build else '') }}
{% endmacro %}


{#- bigint array literal of a list of load ids (an empty list is a typed empty array) -#}
{% macro load_id_array(ids) -%}
    array[{{ ids | join(', ') }}]::bigint[]
{%- endmacro %}


{#- The loads a table accounts for, beside it in the same schema, for the next build to carry it forward. Written
    only by a real run (not by `dbt compile` or `docs generate`); dropped first so a rerun of the model replaces it. -#}
{% macro record_load_state(plan) %}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        {%- set state = this.identifier ~ '__loads' -%}
        {%- do run_query('drop table if exists ' ~ adapter.quote(this.schema) ~ '.' ~ adapter.quote(state)) -%}
        {%- do run_query('create table ' ~ adapter.quote(this.schema) ~ '.' ~ adapter.quote(state)
                         ~ " as select '" ~ plan.code_hash ~ "'::text as code_hash, '" ~ plan.reference_hash
                         ~ "'::text as reference_hash, " ~ load_id_array(plan.current) ~ ' as load_ids') -%}
    {%- endif -%}
{% endmacro %}
