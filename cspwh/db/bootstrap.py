"""Schemas, audit tables and roles of the warehouse; idempotent, run before every pipeline stage that needs them."""

from __future__ import annotations

import logging
import os

import psycopg
from psycopg import sql

from cspwh import db, settings
from cspwh.catalogue import contracts

log = logging.getLogger(__name__)

SCHEMAS = ("landing", "raw", "audit", "marts")

DDL = """
create table if not exists landing.file_manifest (
    file_id bigserial primary key,
    feed text not null,
    entity text,
    file_name text not null,
    stream text,
    period text,
    content_hash text not null,
    size_bytes bigint not null,
    rows integer,
    received_at timestamptz not null default now(),
    last_received_at timestamptz not null default now(),
    times_received integer not null default 1,
    landed_path text not null,
    outcome text not null check (outcome in ('landed', 'loaded', 'quarantined', 'held')),
    reason text,
    findings jsonb,
    warnings jsonb,
    layout_version text,
    quarantined_path text,
    outcome_at timestamptz,
    unique (feed, content_hash)
);
alter table landing.file_manifest add column if not exists entity text;
alter table landing.file_manifest add column if not exists warnings jsonb;
alter table landing.file_manifest add column if not exists layout_version text;
-- a file is decided (loaded, quarantined or held) or still 'landed': how often it was tried, the last failure
-- (never the file's content), and whether a person accepted a held file (cspwh accept)
alter table landing.file_manifest add column if not exists attempts integer not null default 0;
alter table landing.file_manifest add column if not exists last_error text;
alter table landing.file_manifest add column if not exists accepted_at timestamptz;
do $$ begin
    if not exists (select 1 from pg_constraint where conname = 'file_manifest_outcome_check'
                      and pg_get_constraintdef(oid) like '%held%') then
        alter table landing.file_manifest drop constraint if exists file_manifest_outcome_check;
        alter table landing.file_manifest add constraint file_manifest_outcome_check
            check (outcome in ('landed', 'loaded', 'quarantined', 'held'));
    end if;
end $$;
comment on table landing.file_manifest is 'One row per distinct file received, by content hash: never loaded twice.';

create table if not exists landing.api_cursors (
    feed text not null,
    endpoint text not null,
    cursor text not null,
    updated_at timestamptz not null default now(),
    primary key (feed, endpoint)
);

create table if not exists landing.api_pulls (
    pull_id bigserial primary key,
    feed text not null,
    endpoint text not null,
    since text not null,
    pages jsonb not null,
    pulled_at timestamptz not null default now(),
    settled_at timestamptz,
    cursor_after text,
    held jsonb
);
comment on table landing.api_pulls is
    'Each complete API pull and its pages; the cursor moves (settle) only over leading pages that loaded.';

create table if not exists audit.check_results (
    check_result_id bigserial primary key,
    run_id text not null,
    gate text not null check (gate in ('file', 'consistency')),
    feed text,
    file_id bigint references landing.file_manifest (file_id),
    check_name text not null,
    severity text not null check (severity in ('blocking', 'warning', 'notice')),
    success boolean not null,
    alert_role text,
    message text,
    details jsonb,
    checked_at timestamptz not null default now()
);
do $$ begin
    -- notices: what the pipeline fixed by itself (dates converted, aliases matched), counted, never a problem
    if not exists (select 1 from pg_constraint where conname = 'check_results_severity_check'
                   and pg_get_constraintdef(oid) like '%notice%') then
        alter table audit.check_results drop constraint if exists check_results_severity_check;
        alter table audit.check_results add constraint check_results_severity_check
            check (severity in ('blocking', 'warning', 'notice'));
    end if;
end $$;

create table if not exists audit.task_failures (
    task_failure_id bigserial primary key,
    dag_id text not null,
    task_id text not null,
    run_id text not null,
    error text,
    failed_at timestamptz not null default now()
);

create table if not exists audit.feed_runs (
    dag_id text not null,
    run_id text not null,
    night date not null,
    scheduled boolean not null,
    outcome text not null check (outcome in ('loaded', 'nothing_new', 'failed')),
    files_loaded integer not null default 0,
    ended_at timestamptz not null default now(),
    primary key (dag_id, run_id)
);
comment on table audit.feed_runs is
    'Each feed run as it ended: the night it belongs to, and whether it loaded anything; the night''s build waits '
    'for the feeds due tonight by reading it.';

create table if not exists audit.alerts (
    alert_key text not null,
    role text not null,
    first_run_id text not null,
    last_run_id text not null,
    first_alerted_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    resolved_at timestamptz,
    summary text not null,
    primary key (alert_key, role)
);
alter table audit.alerts add column if not exists file_id bigint;
alter table audit.alerts add column if not exists resolution text;
alter table audit.alerts add column if not exists resolution_told boolean not null default false;
comment on column audit.alerts.resolution is
    'Why the alert closed (a corrected file loaded, a check passing again, a later run succeeding, told once).';

create table if not exists audit.notices_told (
    check_result_id bigint primary key references audit.check_results (check_result_id),
    role text not null,
    told_at timestamptz not null default now()
);
comment on table audit.notices_told is
    'Notices (what the pipeline fixed by itself) already counted in a digest; the rest wait for the next one.';

create table if not exists audit.alert_outbox (
    outbox_id bigserial primary key,
    run_id text not null,
    role text not null,
    channel text not null check (channel in ('email', 'webhook')),
    address text,
    subject text not null,
    body text not null,
    queued_at timestamptz not null default now(),
    attempts integer not null default 0,
    last_attempt_at timestamptz,
    last_error text,
    sent_at timestamptz
);
create index if not exists alert_outbox_pending on audit.alert_outbox (outbox_id) where sent_at is null;
comment on table audit.alert_outbox is
    'Every alert digest per channel, queued with its problems; sent_at only once the server accepted it.';

create table if not exists audit.publications (
    publication_id bigserial primary key,
    run_id text not null,
    build_schema text not null,
    published_at timestamptz not null default now(),
    table_rows jsonb not null
);

alter table audit.publications add column if not exists night date;
alter table audit.publications add column if not exists forced boolean not null default false;
comment on column audit.publications.night is
    'The partnership night (cspwh/catalogue/night.py) a scheduled build published for: at most one unforced '
    'publication each.';

create table if not exists audit.builds (
    build_schema text primary key,
    state text not null check (state in ('building', 'built', 'failed', 'blocked', 'published', 'superseded')),
    run_id text,
    started_at timestamptz not null default now(),
    state_at timestamptz not null default now()
);
comment on table audit.builds is
    'Each nightly build and where it is; a build never drops the schemas of another that is built and waiting.';
-- what the build was made from (code fingerprint, each raw table's state): the next build carries forward from it
alter table audit.builds add column if not exists inputs jsonb;

create table if not exists audit.reports (
    report_id bigserial primary key,
    quarter text not null,
    build_schema text not null,
    run_id text not null,
    published_at timestamptz not null default now(),
    html_path text,
    pdf_path text
);
comment on table audit.reports is 'Each published board report (cspwh report): which build its figures came from.';

create table if not exists audit.reported_figures (
    report_id bigint not null references audit.reports (report_id),
    indicator_id text not null,
    geography_code text not null,
    period_type text not null,
    period_label text not null,
    value numeric,
    numerator numeric,
    denominator numeric,
    primary key (report_id, indicator_id, geography_code, period_type, period_label)
);
comment on table audit.reported_figures is
    'The as-reported ledger: every figure a published report showed; a rebuild that changes one is a restatement.';

-- The ledger also holds the board's figures published before the warehouse (cspwh ledger import): a report is then
-- a board paper (no build), and a figure keeps what was printed, where, and whether the catalogue can key it.
alter table audit.reports add column if not exists origin text not null default 'cspwh report';
alter table audit.reports add column if not exists source_document text;
alter table audit.reports add column if not exists report_date date;
alter table audit.reports add column if not exists title text;
alter table audit.reports alter column build_schema drop not null;
alter table audit.reports alter column run_id drop not null;
create unique index if not exists reports_imported_paper
    on audit.reports (source_document, quarter) where origin = 'ledger import';
alter table audit.reported_figures add column if not exists figure_id bigserial;
do $$ begin
    if exists (select 1 from pg_constraint where conname = 'reported_figures_pkey'
                  and pg_get_constraintdef(oid) <> 'PRIMARY KEY (figure_id)') then
        alter table audit.reported_figures drop constraint reported_figures_pkey;
    end if;
    if not exists (select 1 from pg_constraint where conname = 'reported_figures_pkey') then
        alter table audit.reported_figures add constraint reported_figures_pkey primary key (figure_id);
    end if;
end $$;
alter table audit.reported_figures alter column indicator_id drop not null;
alter table audit.reported_figures alter column geography_code drop not null;
alter table audit.reported_figures alter column period_type drop not null;
alter table audit.reported_figures alter column period_label drop not null;
alter table audit.reported_figures add column if not exists decimals integer;
alter table audit.reported_figures add column if not exists unit text;
alter table audit.reported_figures add column if not exists period_start date;
alter table audit.reported_figures add column if not exists period_end date;
alter table audit.reported_figures add column if not exists rag text;
alter table audit.reported_figures add column if not exists rank_as_printed text;
alter table audit.reported_figures add column if not exists comparison_as_printed text;
alter table audit.reported_figures add column if not exists indicator_as_printed text;
alter table audit.reported_figures add column if not exists geography_as_printed text;
alter table audit.reported_figures add column if not exists period_as_printed text;
alter table audit.reported_figures add column if not exists column_as_printed text;
alter table audit.reported_figures add column if not exists comparator_as_printed text;
alter table audit.reported_figures add column if not exists footnote text;
alter table audit.reported_figures add column if not exists note text;
alter table audit.reported_figures add column if not exists source_line integer;
alter table audit.reported_figures add column if not exists is_keyed boolean not null default true;
alter table audit.reported_figures add column if not exists unkeyed_reason text;
-- a report's own figure once per key; an imported figure once per place on the page (re-import updates it)
create unique index if not exists reported_figures_report_key
    on audit.reported_figures (report_id, indicator_id, geography_code, period_type, period_label)
    where source_line is null;
create unique index if not exists reported_figures_printed_at
    on audit.reported_figures (report_id, source_line, column_as_printed) where source_line is not null;
comment on column audit.reported_figures.decimals is
    'Decimals printed: a figure is restated only when the new value, rounded to these, differs.';
comment on column audit.reported_figures.is_keyed is
    'False when the catalogue cannot key the figure (indicator, geography or period); unkeyed_reason says why.';
"""


def ensure(url: str | None = None) -> None:
    """Create schemas, audit tables, raw tables of every contract, and the analyst role and grants."""
    with db.connect(url, autocommit=True) as conn:
        # concurrent first runs (two DAG tasks) must not race on CREATE SCHEMA
        conn.execute("select pg_advisory_lock(hashtext('cspwh.db.bootstrap'))")
        try:
            for schema in SCHEMAS:
                conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            conn.execute(DDL)
            for feed in contracts.all_feeds():
                for entity in contracts.load(feed).entities:
                    for statement in entity.raw_ddl():
                        conn.execute(statement)
            _ensure_analyst(conn)
        finally:
            conn.execute("select pg_advisory_unlock(hashtext('cspwh.db.bootstrap'))")


def analyst_limits() -> dict[str, str]:
    """What one analyst login may take of the server, so a busy reader cannot stop the night: connections (the
    role's total), and per session a statement timeout, a temp-file limit and an idle-in-transaction timeout (an
    open transaction would hold publish's schema swap)."""
    env = os.environ.get
    return {
        "connection_limit": env("CSPWH_ANALYST_CONNECTION_LIMIT") or "10",
        "statement_timeout": env("CSPWH_ANALYST_STATEMENT_TIMEOUT") or "5min",
        "temp_file_limit": env("CSPWH_ANALYST_TEMP_FILE_LIMIT") or "1GB",
        "idle_in_transaction_session_timeout": env("CSPWH_ANALYST_IDLE_IN_TRANSACTION_TIMEOUT") or "10min",
    }


def _ensure_analyst(conn: psycopg.Connection) -> list[str]:
    """Create or update the analyst login; returns the limits the owner could not apply (also logged)."""
    role = settings.analyst_role()
    limits = analyst_limits()
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
    verb = "alter" if exists else "create"
    statement = verb + " role {} with login password {} nosuperuser nocreatedb nocreaterole connection limit {}"
    conn.execute(
        sql.SQL(statement).format(
            sql.Identifier(role), sql.Literal(settings.analyst_password()), sql.Literal(int(limits["connection_limit"]))
        )
    )
    database = conn.info.dbname
    conn.execute(sql.SQL("revoke all on database {} from public").format(sql.Identifier(database)))
    conn.execute(sql.SQL("revoke all on schema public from public"))
    conn.execute(sql.SQL("grant connect on database {} to {}").format(sql.Identifier(database), sql.Identifier(role)))
    conn.execute(
        sql.SQL("alter role {} in database {} set search_path = marts").format(
            sql.Identifier(role), sql.Identifier(database)
        )
    )
    missing = []
    for name in ("statement_timeout", "idle_in_transaction_session_timeout", "temp_file_limit"):
        try:  # temp_file_limit needs a superuser, or GRANT SET ON PARAMETER temp_file_limit TO <owner>
            conn.execute(
                sql.SQL("alter role {} in database {} set {} = {}").format(
                    sql.Identifier(role), sql.Identifier(database), sql.Identifier(name), sql.Literal(limits[name])
                )
            )
        except psycopg.errors.InsufficientPrivilege:
            missing.append(
                f"{name} = {limits[name]} (a superuser runs: GRANT SET ON PARAMETER {name} TO "
                f"{conn.info.user}; then the next run applies it)"
            )
    # every database is open to PUBLIC by default; the analyst must reach only this one
    for (other,) in conn.execute(
        "select datname from pg_database where datallowconn and not datistemplate and datname <> current_database()"
    ).fetchall():
        try:
            conn.execute(sql.SQL("revoke connect, temporary on database {} from public").format(sql.Identifier(other)))
        except psycopg.errors.InsufficientPrivilege:  # not ours to change: say so below if it stays open
            pass
        acl = conn.execute(
            """select exists (select 1 from pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                               where d.datname = %s and a.grantee = 0 and a.privilege_type = 'CONNECT')""",
            (other,),
        )
        public_connect = db.one(acl)[0]
        if public_connect:
            missing.append(
                f"no CONNECT on database {other} (its owner or a superuser runs: REVOKE CONNECT ON "
                f"DATABASE {other} FROM PUBLIC)"
            )
    for item in missing:
        log.warning("the analyst role %s is not limited as it should be: %s", role, item)
    grant_marts(conn)
    return missing


def grant_marts(conn: psycopg.Connection, schema: str = "marts") -> None:
    role = sql.Identifier(settings.analyst_role())
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), role))
    conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(sql.Identifier(schema), role))
