{#- Tested by load: row tests on append-only raw data run once per load, not every night.

    Raw rows never change once loaded (a restatement is a new load; raw is only appended to or deleted from), so a
    row test that passed on a load in the published build passes on it again. At national volume the police.uk
    source and staging tests were most of the nightly build (one scan of every force's records per test), so a build
    tests only the loads the published build had not.

    At the start of a build (on-run-start) record_tested_loads() writes <build>_staging.tested_loads: for every test
    that may be narrowed, its hash and the loads (landing manifest file ids, rows committed with their manifest row)
    loaded by then. Every test of the build runs later, so it sees at least those loads. The build is published only
    if every error-severity test passed, and only the published build's record is read (CSPWH_PREVIOUS_BUILD).

    get_where_subquery, which every generic test wraps its model in, narrows a test to the loads missing from that
    record when all of these hold, and otherwise tests every row as dbt does:
      - CSPWH_INCREMENTAL is on and the published build has a record of this test under the same hash (the test's
        definition, the checksums of the model and seeds it reads, dbt's version);
      - it tests a source, or a staging model that reads one source only and says in its meta `tested_by_load: true`
        that each of its rows comes from one raw row alone (no window over other loads);
      - it is a row test (a row passes or fails alone): not_null, accepted_values, relationships to a seed, or
        unique_within_load (uniqueness that cannot cross loads); plain `unique` is never narrowed, as a new load's
        value may repeat an old load's;
      - severity error with dbt's default thresholds (a warning is reported every night it holds). -#}

{% macro row_test_names() %}
    {{ return(['not_null', 'accepted_values', 'relationships', 'unique_within_load']) }}
{% endmacro %}


{#- [feed, entity] of the raw table a test's rows come from, if it may be narrowed to new loads; else none -#}
{% macro tested_by_load_key(test_node) %}
    {%- set meta = test_node.get('test_metadata') or {} -%}
    {%- set config = test_node.config -%}
    {%- if test_node.resource_type != 'test' or meta.get('name') not in row_test_names()
          or (config.severity | lower) != 'error' or config.error_if != '!= 0' or config.warn_if != '!= 0' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set deps = test_node.depends_on.nodes -%}
    {%- set sources = [] -%}
    {%- for dep in deps if dep.startswith('source.') -%}{%- do sources.append(dep) -%}{%- endfor -%}
    {%- set tested = test_node.get('attached_node') or (sources | first) -%}
    {%- for dep in deps -%}
        {%- if dep != tested and not dep.startswith('seed.') -%}{{ return(none) }}{%- endif -%}
    {%- endfor -%}
    {%- if tested and tested.startswith('model.') -%}
        {%- set model_node = graph.nodes.get(tested) -%}
        {%- if model_node is none or not model_node.config.meta.get('tested_by_load')
              or model_node.depends_on.nodes | length != 1 -%}
            {{ return(none) }}
        {%- endif -%}
        {%- set tested = model_node.depends_on.nodes[0] -%}
    {%- endif -%}
    {%- set source_node = graph.sources.get(tested) if tested else none -%}
    {%- if source_node is none -%}{{ return(none) }}{%- endif -%}
    {{ return([source_node.source_name, source_node.name]) }}
{% endmacro %}


{#- the hash a test's record is kept under: anything that could change its verdict on an old row changes it -#}
{% macro tested_by_load_hash(test_node) %}
    {%- set parts = [test_node.unique_id, tojson(test_node.test_metadata, sort_keys=true),
                     tojson(test_node.config.get('where'), sort_keys=true), dbt_version, 'tested_by_load v1'] -%}
    {%- for dep in test_node.depends_on.nodes | sort -%}
        {%- set node = graph.nodes.get(dep) -%}
        {%- do parts.append(dep ~ '=' ~ (node.checksum.checksum if node else '')) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('|'))) }}
{% endmacro %}


{#- on-run-start: the SQL recording, before any test runs, the loads this build's narrowable tests will cover -#}
{% macro record_tested_loads() %}
    {%- if not execute or flags.WHICH not in ('run', 'build') -%}{{ return('select 1') }}{%- endif -%}
    {%- set rows = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- set key = tested_by_load_key(node) if node.resource_type == 'test' else none -%}
        {%- if key -%}
            {%- do rows.append("('" ~ node.unique_id ~ "', '" ~ tested_by_load_hash(node) ~ "', '" ~ key[0]
                               ~ "', '" ~ key[1] ~ "')") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set schema = adapter.quote(generate_schema_name('staging', none) | trim) -%}
    create schema if not exists {{ schema }};
    drop table if exists {{ schema }}.tested_loads;
    create table {{ schema }}.tested_loads as
    with tests (test_id, test_hash, feed, entity) as (
        values {{ rows | join(', ') if rows else '(null::text, null::text, null::text, null::text)' }}
    )
    select tests.*,
           array(select file_id from landing.file_manifest as m
                 where m.outcome = 'loaded' and m.feed = tests.feed and m.entity = tests.entity
                 order by file_id) as load_ids
    from tests
    where test_id is not null
{% endmacro %}


{#- the predicate narrowing the running test to the loads its published record lacks, or '' to test every row -#}
{% macro tested_by_load_predicate() %}
    {#- nothing read from the environment while dbt parses: an environment variable read then is recorded, and a
        new value (the published build changes every night) makes dbt parse again every file whose tests use it -#}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set previous_schema = previous_build_schema(generate_schema_name('staging', none) | trim) -%}
    {%- if not previous_schema or not incremental_switched_on() -%}{{ return('') }}{%- endif -%}
    {%- set test_node = graph.nodes.get(model.unique_id) -%}
    {%- if test_node is none or not tested_by_load_key(test_node) -%}{{ return('') }}{%- endif -%}
    {%- set previous = adapter.get_relation(target.database, previous_schema, 'tested_loads') -%}
    {%- if previous is none -%}{{ return('') }}{%- endif -%}
    {%- set query -%}
        select array_to_string(array(
            select file_id from landing.file_manifest as m
            where m.outcome = 'loaded' and m.feed = t.feed and m.entity = t.entity and m.file_id <> all(t.load_ids)
            order by file_id), ',')
        from {{ previous }} as t
        where t.test_id = '{{ test_node.unique_id }}' and t.test_hash = '{{ tested_by_load_hash(test_node) }}'
    {%- endset -%}
    {%- set found = run_query(query).rows -%}
    {%- if found | length != 1 -%}{{ return('') }}{%- endif -%}
    {%- set fresh = (found[0][0] or '').split(',') | reject('equalto', '') | list -%}
    {{ return('_load_id = any(' ~ load_id_array(fresh) ~ ')') }}
{% endmacro %}


{#- dbt's own macro (global_project/macros/materializations/tests/where_subquery.sql), with the narrowing above -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set narrowed = tested_by_load_predicate() -%}
    {%- set predicates = [] -%}
    {%- if where %}{% do predicates.append('(' ~ where ~ ')') %}{% endif -%}
    {%- if narrowed %}{% do predicates.append(narrowed) %}{% endif -%}
    {%- if predicates -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ predicates | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
