"""Faults every production night meets, on the file side, on real components: a real Postgres backend killed in the
middle of a COPY, a real full file system (a 64 kB tmpfs) under quarantine, real symbolic links to real secrets, a
FIFO, names the file system barely allows or that are not UTF-8, a header-less export of personal data, a
header-only restatement. Each asserts what the operator is told, that no row was lost or doubled (raw against the
file) and that a rerun recovers."""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from conftest import EXTERNAL_URL, VENDORED

from cspwh import cli, settings
from cspwh.alerts import digests
from cspwh.catalogue import contracts
from cspwh.ingest import feed_run, landing, pseudonymise
from cspwh.local import demo

# the header as Storm sends it, from the one definition of the feed
STORM_HEADER = list(contracts.load("storm_asb").entity("incidents").layouts[0].headers)
JUNE = "2021-06-leicestershire-street.csv.gz"


def storm_rows(count: int, day: str = "20210615") -> list[list[str]]:
    iso = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    return [
        [
            f"LP-{day}-{i:06d}",
            f"{iso} {i % 24:02d}:{i % 60:02d}",
            "",
            "Nuisance",
            "Noise",
            f"On or near Street {i % 97}",
            "E01025678",
            "Charnwood" if i % 2 else "Blaby",
            f"Caller {i}",
            f"07700 {i:06d}",
            "1 A Road",
            "LE11 1AA",
            "loud music",
        ]
        for i in range(count)
    ]


def csv_bytes(rows: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()


def drop(warehouse, feed: str, name: str | bytes, data: bytes) -> Path:
    folder = warehouse.drop / feed
    folder.mkdir(parents=True, exist_ok=True)
    path = os.path.join(os.fsencode(folder), name) if isinstance(name, bytes) else folder / name
    with open(path, "wb") as fh:
        fh.write(data)
    return Path(os.fsdecode(path))


def raw_count(warehouse, table: str, file_name: str | None = None) -> int:
    where = " where _source_file = %s" if file_name else ""
    return warehouse.query(f"select count(*) from raw.{table}{where}", (file_name,) if file_name else None)[0][0]


def manifest(warehouse, feed: str) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in warehouse.query(
            """select file_name, outcome, rows, attempts, last_error, file_id from landing.file_manifest
            where feed = %s order by file_id""",
            (feed,),
        )
    }


def every_file_under(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*")]


# --- Postgres killed mid-COPY -------------------------------------------------------------------------------------


def _kill_the_copy(url: str, killed: list, stop: threading.Event) -> None:
    """Watch for the loader's COPY to be under way (rows already in) and SIGKILL the server process running it."""
    with psycopg.connect(url, autocommit=True) as watcher:
        while not stop.is_set():
            row = watcher.execute("""select pid, tuples_processed from pg_stat_progress_copy
                                      where relid = 'raw.storm_asb__incidents'::regclass""").fetchone()
            if row and row[1] > 0:
                os.kill(row[0], signal.SIGKILL)
                killed.append(row[1])
                return
            time.sleep(0.005)


def _wait_for_server(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    # the killed process took every connection of the server with it: Airflow's pool (the DAG tests share this
    # server) must not hand a dead one to a later test
    airflow_settings = sys.modules.get("airflow.settings")
    if airflow_settings is not None:
        session = getattr(airflow_settings, "Session", None)
        if session is not None:
            try:
                session.remove()  # its rollback meets the dead connection, which invalidates it
            except Exception:
                session.registry.clear()
        if getattr(airflow_settings, "engine", None) is not None:
            airflow_settings.engine.dispose()


@pytest.mark.skipif(bool(EXTERNAL_URL), reason="kills a process of the embedded server")
@pytest.mark.parametrize("drop_copy", ["kept", "removed before the rerun"])
def test_postgres_killed_mid_copy_loses_nothing_and_the_rerun_loads_the_file_once(warehouse, drop_copy):
    count = 200_000
    name = "storm_asb_20210615.csv"
    path = drop(warehouse, "storm_asb", name, csv_bytes([STORM_HEADER] + storm_rows(count)))
    killed, stop = [], threading.Event()
    watcher = threading.Thread(target=_kill_the_copy, args=(warehouse.url, killed, stop), daemon=True)
    watcher.start()
    try:
        with pytest.raises(feed_run.IngestIncomplete) as failed:
            feed_run.ingest_feed("storm_asb", "night-1", warehouse.drop)
    finally:
        stop.set()
        watcher.join()
    assert killed, "the COPY finished before it could be killed"
    # the operator is told which file, and that it is kept for the next run; no row of it is quoted
    told = str(failed.value)
    assert name in told and "stay in the drop folder for the next run" in told and "Caller" not in told
    _wait_for_server(warehouse.url)
    assert path.exists(), "the file must not leave the drop folder before its outcome is recorded"
    assert manifest(warehouse, "storm_asb")[name][:2] == ("landed", None)
    assert raw_count(warehouse, "storm_asb__incidents") == 0  # the killed COPY left nothing half-loaded

    if drop_copy != "kept":
        path.unlink()  # the partner's clean-up removed it: the landed copy is decided instead
    [outcome] = feed_run.ingest_feed("storm_asb", "night-2", warehouse.drop)
    assert (outcome.file_name, outcome.outcome, outcome.rows) == (name, "loaded", count)
    assert raw_count(warehouse, "storm_asb__incidents") == count  # every row of the file, once
    assert warehouse.query("select count(distinct incident_number) from raw.storm_asb__incidents")[0][0] == count
    assert manifest(warehouse, "storm_asb")[name][:3] == ("loaded", count, 2)
    assert not path.exists()
    assert feed_run.ingest_feed("storm_asb", "night-3", warehouse.drop) == []  # nothing left, nothing loaded twice
    assert raw_count(warehouse, "storm_asb__incidents") == count


# --- a full quarantine disk -----------------------------------------------------------------------------------------


@pytest.fixture
def tiny_quarantine(warehouse, monkeypatch, tmp_path):
    """Quarantine on a real 64 kB tmpfs, filled up; yields a function that frees it."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    filler = mount / "filler"
    try:
        with open(filler, "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    except OSError:
        pass
    monkeypatch.setenv("CSPWH_QUARANTINE_DIR", str(mount / "quarantine"))
    try:
        yield lambda: filler.unlink()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_quarantine_disk_keeps_the_file_undecided_alerts_after_three_tries_and_recovers(
    warehouse, tiny_quarantine
):
    bad = "storm_asb_20210616.csv"
    rows = storm_rows(50, "20210616")
    rows[3][3] = "Not a PEN category"
    bad_path = drop(warehouse, "storm_asb", bad, csv_bytes([STORM_HEADER] + rows))
    good = "storm_asb_20210617.csv"
    drop(warehouse, "storm_asb", good, csv_bytes([STORM_HEADER] + storm_rows(40, "20210617")))

    for night in (1, 2, 3):
        with pytest.raises(feed_run.IngestIncomplete) as failed:
            feed_run.ingest_feed("storm_asb", f"night-{night}", warehouse.drop)
        assert bad in str(failed.value) and "No space left on device" in str(failed.value)
        assert bad_path.exists()
        outcome, _, attempts, error, _ = manifest(warehouse, "storm_asb")[bad]
        assert (outcome, attempts) == ("landed", night) and "No space left on device" in error
    # the other file of the feed went on the first night, once
    assert manifest(warehouse, "storm_asb")[good][:2] == ("loaded", 40)
    assert raw_count(warehouse, "storm_asb__incidents") == 40
    # the third failed try reaches the feed's owner as a blocking finding
    told = [f for f in digests.failures("night-3") if f.check == "undecided"]
    assert [(f.file_name, f.role, f.severity) for f in told] == [(bad, "police_asb_lead", "blocking")]
    assert "tried 3 times" in told[0].message and "No space left on device" in told[0].message
    assert not [f for f in digests.failures("night-2") if f.check == "undecided"]

    tiny_quarantine()  # space freed
    assert feed_run.ingest_feed("storm_asb", "night-4", warehouse.drop)[0].outcome == "quarantined"
    assert not bad_path.exists()
    kept = [p for p in Path(settings.quarantine_dir()).rglob(bad)]
    assert len(kept) == 1 and kept[0].read_bytes() == csv_bytes([STORM_HEADER] + rows)
    assert raw_count(warehouse, "storm_asb__incidents") == 40 and raw_count(warehouse, "storm_asb__incidents", bad) == 0


# --- names --------------------------------------------------------------------------------------------------------


def test_unlandable_names_are_quarantined_each_by_itself_and_the_feed_goes_on(warehouse, monkeypatch):
    monkeypatch.setenv("CSPWH_UPLOAD_GRACE_SECONDS", "600")
    content = csv_bytes([STORM_HEADER] + storm_rows(20, "20210618"))
    good = "storm_asb_20210618.csv"
    drop(warehouse, "storm_asb", good, content)
    impossible = "storm_asb_20221399.csv"
    drop(warehouse, "storm_asb", impossible, csv_bytes([STORM_HEADER] + storm_rows(5, "20221201")))
    long_bad = "x" * (246 - len(".csv")) + ".csv"  # its reason file beside it would be 257 bytes
    drop(warehouse, "storm_asb", long_bad, b"whatever,is\nin,it\n")
    not_utf8 = b"storm_asb_2021\xff0619.csv"
    drop(warehouse, "storm_asb", not_utf8, b"a,b\n1,2\n")
    newline = "storm_asb_20210620.csv\n"  # a trailing newline: `$` alone would accept it
    drop(warehouse, "storm_asb", newline, csv_bytes([STORM_HEADER] + storm_rows(3, "20210620")))
    arabic_digits = "storm_asb_\u0662\u0660\u0662\u0661\u0660\u0666\u0662\u0661.csv"
    drop(warehouse, "storm_asb", arabic_digits, csv_bytes([STORM_HEADER] + storm_rows(3, "20210621")))
    escape = "\x1b[2J\x1b[31mstorm.csv"
    drop(warehouse, "storm_asb", escape, b"a\n")
    orphan = drop(warehouse, "storm_asb", "storm_asb_20210622.csv.part", content[:100])
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))  # left by a full disk an hour ago
    uploading = drop(warehouse, "storm_asb", "storm_asb_20210623.csv.part", content[:100])

    outcomes = {o.file_name: o for o in feed_run.ingest_feed("storm_asb", "night-1", warehouse.drop)}
    assert (outcomes[good].outcome, outcomes[good].rows) == ("loaded", 20)
    assert raw_count(warehouse, "storm_asb__incidents") == 20
    shown = {
        landing.display_name(n): n
        for n in (impossible, long_bad, os.fsdecode(not_utf8), newline, arabic_digits, escape, orphan.name)
    }
    assert set(outcomes) == {good, *shown}
    for name in shown:
        assert outcomes[name].outcome == "quarantined", (name, outcomes[name].reason)
        assert "nothing from this file was loaded" in outcomes[name].reason
    assert "the period in the file name (20221399) is not a real date" in outcomes[impossible].reason
    assert "an upload that never completed" in outcomes[orphan.name].reason
    assert "storm_asb_2021\\xff0619.csv" in shown and "storm_asb_20210620.csv\\x0a" in shown
    # everything left the drop folder except the upload still in progress
    assert sorted(os.listdir(warehouse.drop / "storm_asb")) == [uploading.name]
    # the 246-byte name's bytes and reason are both in quarantine (under a shortened name the file system allows)
    kept = Path(outcomes[long_bad].quarantined_path)
    assert kept.read_bytes() == b"whatever,is\nin,it\n"
    assert long_bad in kept.with_name(kept.name + ".reason.txt").read_text()

    summary = demo.summary()
    assert all(ch == "\n" or ch.isprintable() for ch in summary)
    assert "\\x1b[2J\\x1b[31mstorm.csv" in summary and "storm_asb_20210620.csv\\x0a" in summary

    # a name as long as the file system allows, matching the contract, loads (its stored name is shortened)
    month = "2021-07-" + "a" * (252 - len("2021-07--street.csv")) + "-street.csv"
    drop(
        warehouse, "police_uk", month, gzip.decompress((VENDORED / "2021-07-leicestershire-street.csv.gz").read_bytes())
    )
    [loaded] = feed_run.ingest_feed("police_uk", "night-1", warehouse.drop)
    expected = len(gzip.decompress((VENDORED / "2021-07-leicestershire-street.csv.gz").read_bytes()).splitlines()) - 1
    assert (len(month.encode()), loaded.outcome, loaded.rows) == (252, "loaded", expected)
    assert raw_count(warehouse, "police_uk__street_crimes", month) == expected


def test_a_police_uk_download_unpacked_in_the_drop_loads_its_street_files_and_names_the_others(warehouse):
    # as data.police.uk's download unpacks: a folder a month holding the street and outcomes files; and the zip
    street = gzip.decompress((VENDORED / "2021-07-leicestershire-street.csv.gz").read_bytes())
    month = warehouse.drop / "police_uk" / "police-uk-download" / "2021-07"
    month.mkdir(parents=True)
    (month / "2021-07-leicestershire-street.csv").write_bytes(street)
    header = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Outcome type"
    (month / "2021-07-leicestershire-outcomes.csv").write_bytes(header.encode() + b"\r\n")
    (warehouse.drop / "police_uk" / "2021-07.zip").write_bytes(b"PK\x03\x04")
    hidden = warehouse.drop / "police_uk" / ".sync" / "2021-08-leicestershire-street.csv"
    hidden.parent.mkdir()
    hidden.write_bytes(street)

    outcomes = {o.file_name: o for o in feed_run.ingest_feed("police_uk", "night-1", warehouse.drop)}
    assert set(outcomes) == {"2021-07-leicestershire-street.csv", "2021-07-leicestershire-outcomes.csv", "2021-07.zip"}
    loaded = outcomes["2021-07-leicestershire-street.csv"]
    assert (loaded.outcome, loaded.rows) == ("loaded", len(street.splitlines()) - 1)
    assert raw_count(warehouse, "police_uk__street_crimes") == loaded.rows
    other, archive = outcomes["2021-07-leicestershire-outcomes.csv"], outcomes["2021-07.zip"]
    assert other.outcome == "quarantined" and "a data.police.uk outcomes file, which this warehouse does not load" in (
        other.reason or ""
    )
    assert archive.outcome == "quarantined" and "unzip it into the feed's drop folder" in (archive.reason or "")
    # the delivered files left the drop folder, its folders stay; a hidden folder is not read
    assert [p for p in (warehouse.drop / "police_uk").rglob("*") if p.is_file()] == [hidden]


# --- links and special files --------------------------------------------------------------------------------------


def test_links_to_secrets_and_special_files_are_never_read(warehouse, mailbox, caplog):
    secret = pseudonymise._key()  # the real key file of this test home
    key_file = settings.home() / "secrets" / "hmac.key"
    assert key_file.exists()
    password = Path(settings.home() / "pg" / "owner_password")
    folder = warehouse.drop / "police_uk"
    folder.mkdir(parents=True, exist_ok=True)
    links = {
        "2021-06-leicestershire-street.csv": key_file,
        "2021-07-leicestershire-street.csv": password,
        "2021-08-leicestershire-street.csv": Path("/proc/self/environ"),
    }
    for name, target in links.items():
        (folder / name).symlink_to(target)
    os.mkfifo(folder / "2021-09-leicestershire-street.csv")
    warehouse.stage("2021-10-leicestershire-street.csv.gz")
    before = {p: p.read_bytes() for p in (key_file, password) if p.exists()}

    caplog.set_level(logging.DEBUG)
    outcomes = {o.file_name: o for o in feed_run.ingest_feed("police_uk", "night-1", warehouse.drop)}
    assert outcomes["2021-10-leicestershire-street.csv.gz"].outcome == "loaded"
    for name in [*links, "2021-09-leicestershire-street.csv"]:
        assert outcomes[name].outcome == "quarantined"
        assert "nothing was read from it" in outcomes[name].reason
    assert "symbolic link" in outcomes["2021-06-leicestershire-street.csv"].reason
    assert "not a regular file" in outcomes["2021-09-leicestershire-street.csv"].reason
    assert os.listdir(folder) == []  # the links and the FIFO are gone; their targets are untouched
    assert {p: p.read_bytes() for p in before} == before

    # no byte of a secret anywhere past the drop folder: landing, quarantine, audit, the alert, the log
    secrets_text = [secret.decode()] + [b.decode().strip() for b in before.values()]
    environ = Path("/proc/self/environ").read_bytes().split(b"\0")
    secrets_text += [v.decode(errors="ignore") for v in environ if len(v) > 20][:5]
    stored = every_file_under(Path(settings.landing_dir()), Path(settings.quarantine_dir()))
    assert not [p for p in stored if p.is_symlink()]
    blobs = [p.read_bytes().decode(errors="ignore") for p in stored if p.is_file()]
    audit = [str(r) for r in warehouse.query("select message, details from audit.check_results")]
    audit += [str(r) for r in warehouse.query("select reason, findings from landing.file_manifest")]
    digests.dispatch("night-1")
    mails = [m.get_content() for m in mailbox.to("police-performance@example.org")]
    assert any("2021-06-leicestershire-street.csv" in m and "symbolic link" in m for m in mails)
    for text in secrets_text:
        for where in (*blobs, *audit, *mails, caplog.text):
            assert text not in where

    # landed and quarantined files are private from creation: 0600 files in 0700 folders
    for path in stored:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_the_key_file_is_private_from_creation_and_env_is_never_committed(tmp_path, monkeypatch):
    monkeypatch.setenv("CSPWH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CSPWH_HMAC_KEY", raising=False)
    old = os.umask(0)  # a permissive umask: the modes must come from creation, not from the umask
    try:
        pseudonymise._key.cache_clear()
        key = pseudonymise._key()
    finally:
        os.umask(old)
        pseudonymise._key.cache_clear()
    path = tmp_path / "home" / "secrets" / "hmac.key"
    assert path.read_text().encode() == key and len(key) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["hmac.key"]
    root = Path(__file__).resolve().parents[2]
    ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", ".env"])
    assert ignored.returncode == 0, ".env must be git-ignored"


# --- content that must not leave landing --------------------------------------------------------------------------

PERSON = [
    "LP-20210615-000000",
    "2021-06-15 10:00",
    "",
    "Nuisance",
    "Noise",
    "On or near Mill Lane",
    "E01025678",
    "Charnwood",
    "Zebedee Quuxworth",
    "07700 900461",
    "17 Quuxworth Gardens",
    "LE11 9ZZ",
    "shouting",
]


def test_a_file_exported_without_its_header_quotes_nothing_of_its_first_row(warehouse, mailbox, caplog):
    name = "storm_asb_20210615.csv"
    drop(warehouse, "storm_asb", name, csv_bytes([PERSON] + storm_rows(30)[1:]))
    caplog.set_level(logging.DEBUG)
    [outcome] = feed_run.ingest_feed("storm_asb", "night-1", warehouse.drop)
    assert outcome.outcome == "quarantined"
    assert "exported without its header row" in outcome.reason and "(lines 1)" in outcome.reason
    assert raw_count(warehouse, "storm_asb__incidents") == 0
    digests.dispatch("night-1")
    mails = [m.get_content() for m in mailbox.to("police-asb-lead@example.org")]
    assert any(name in m and "without its header row" in m for m in mails)
    audit = [str(r) for r in warehouse.query("select message, details from audit.check_results")]
    summary = demo.summary()
    for value in ("Zebedee", "Quuxworth", "900461", "LE11 9ZZ", "Mill Lane", "shouting"):
        for where in (outcome.reason, *audit, *mails, caplog.text, summary):
            assert value not in where, value

    # resent with its header, it loads every row
    drop(warehouse, "storm_asb", name, csv_bytes([STORM_HEADER, PERSON] + storm_rows(30)[1:]))
    [again] = feed_run.ingest_feed("storm_asb", "night-2", warehouse.drop)
    assert (again.outcome, again.rows) == ("loaded", 30)
    assert raw_count(warehouse, "storm_asb__incidents") == 30


# --- restatements -------------------------------------------------------------------------------------------------


def _located_in_june(warehouse, schema: str) -> int:
    """The month's records as dbt stages them (the manifest says which file is the month's current one)."""
    from cspwh.warehouse import dbt_runner

    dbt_runner.run("build", schema, "--select", "+int_street_crimes_located", "--exclude", "test_type:data")
    return warehouse.query(
        f"select count(*) from {schema}_intermediate.int_street_crimes_located where month_start = '2021-06-01'"
    )[0][0]


def test_a_header_only_restatement_is_held_until_accepted_and_the_month_keeps_its_rows(warehouse, mailbox, capsys):
    warehouse.stage(JUNE)
    [first] = feed_run.ingest_feed("police_uk", "night-1", warehouse.drop)
    rows = first.rows
    assert first.outcome == "loaded" and rows > 400
    with gzip.open(VENDORED / JUNE, "rt", newline="") as fh:
        header = fh.readline()
    empty = "2021-06-leicestershire-street.csv"
    drop(warehouse, "police_uk", empty, header.encode())

    [held] = feed_run.ingest_feed("police_uk", "night-2", warehouse.drop)
    assert held.outcome == "held" and not (warehouse.drop / "police_uk" / empty).exists()
    assert f"with 0 row(s); the loaded file {JUNE}" in held.reason and f"has {rows} row(s)" in held.reason
    assert "shrink the period to nothing" in held.reason and f"cspwh accept police_uk {held.file_id}" in held.reason
    # the month keeps its rows: the held file loaded nothing
    assert raw_count(warehouse, "police_uk__street_crimes") == rows
    assert raw_count(warehouse, "police_uk__street_crimes", empty) == 0
    digests.dispatch("night-2")
    [mail] = [
        m.get_content() for m in mailbox.to("police-performance@example.org") if "restatement_shrink" in m.get_content()
    ]
    assert empty in mail and JUNE in mail and f"has {rows} row(s)" in mail and "0 row(s)" in mail
    assert "Files held back" in mail
    # a rerun leaves it held (nothing is decided twice)
    assert feed_run.ingest_feed("police_uk", "night-3", warehouse.drop) == []
    assert manifest(warehouse, "police_uk")[empty][0] == "held"

    # a person accepts it: it loads at once, and the summary no longer lists it as held
    assert cli.main(["accept", "police_uk", str(held.file_id)]) == 0
    assert f"accepted {empty} (file {held.file_id}): 0 rows loaded" in capsys.readouterr().out
    assert manifest(warehouse, "police_uk")[empty][:2] == ("loaded", 0)
    assert raw_count(warehouse, "police_uk__street_crimes") == rows  # 0 from the new file, none doubled
    assert cli.main(["accept", "police_uk", str(held.file_id)]) == 2  # nothing held any more


def test_an_accepted_empty_restatement_empties_its_month_in_the_next_build(warehouse, capsys):
    warehouse.stage(JUNE)
    [first] = feed_run.ingest_feed("police_uk", "night-1", warehouse.drop)
    assert _located_in_june(warehouse, "build_before") == first.rows
    with gzip.open(VENDORED / JUNE, "rt", newline="") as fh:
        header = fh.readline()
    drop(warehouse, "police_uk", "2021-06-leicestershire-street.csv", header.encode())
    [held] = feed_run.ingest_feed("police_uk", "night-2", warehouse.drop)
    assert held.outcome == "held"
    assert _located_in_june(warehouse, "build_held") == first.rows  # held: the month keeps its rows

    assert cli.main(["accept", "police_uk", str(held.file_id)]) == 0
    assert "the period's figures become zero" in capsys.readouterr().out
    assert _located_in_june(warehouse, "build_accepted") == 0  # the person said the month is empty


def test_a_restatement_within_the_allowed_shrink_loads_and_one_beyond_it_is_held(warehouse, monkeypatch):
    warehouse.stage(JUNE)
    [first] = feed_run.ingest_feed("police_uk", "night-1", warehouse.drop)
    with gzip.open(VENDORED / JUNE, "rt", newline="") as fh:
        lines = fh.read().splitlines(keepends=True)
    total = len(lines) - 1
    keep = total * 6 // 10  # 40% fewer rows: within the default 50%
    drop(warehouse, "police_uk", "2021-06-leicestershire-street.csv", "".join(lines[: keep + 1]).encode())
    [second] = feed_run.ingest_feed("police_uk", "night-2", warehouse.drop)
    assert (second.outcome, second.rows) == ("loaded", keep)
    monkeypatch.setenv("CSPWH_RESTATEMENT_MAX_SHRINK", "0.2")  # configured tighter: 30% fewer is held
    smaller = keep * 7 // 10
    with gzip.open(warehouse.drop / "police_uk" / JUNE, "wt", newline="") as fh:
        fh.write("".join(lines[: smaller + 1]))
    [third] = feed_run.ingest_feed("police_uk", "night-3", warehouse.drop)
    assert third.outcome == "held" and f"has {keep} row(s)" in third.reason and f"with {smaller} row(s)" in third.reason
    assert "by 30% (more than the 20% allowed)" in third.reason
    assert raw_count(warehouse, "police_uk__street_crimes") == first.rows + keep


def test_a_file_replaced_in_the_drop_folder_during_the_run_is_not_removed_with_the_old_one(warehouse):
    """A partner re-uploads a corrected file under the same name while the first is being decided: removing the
    first one's drop name after its outcome must not remove the new file, and the next run decides both."""
    from cspwh import db
    from cspwh.catalogue import contracts

    name = "storm_asb_20210615.csv"
    path = drop(warehouse, "storm_asb", name, csv_bytes([STORM_HEADER] + storm_rows(10)))
    with db.connect() as conn, conn.transaction():
        landed = landing.land(conn, contracts.load("storm_asb"), path)  # the run has landed the first upload
    upload = path.with_name(".upload")
    upload.write_bytes(csv_bytes([STORM_HEADER] + storm_rows(12)))
    upload.replace(path)  # the partner's atomic re-upload under the same name
    feed_run._remove_from_drop(path, landed)  # the run's last step for the first file
    assert path.exists(), "the re-uploaded file was removed with the first one"

    outcomes = feed_run.ingest_feed("storm_asb", "night-2", warehouse.drop)  # the first from landing, the second
    assert sorted((o.outcome, o.rows) for o in outcomes) == [("loaded", 10), ("loaded", 12)]
    assert raw_count(warehouse, "storm_asb__incidents") == 22  # every row of both files, once
    assert not path.exists()
