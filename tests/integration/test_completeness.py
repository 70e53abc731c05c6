"""A figure says when its files are short: real police.uk months for Leicestershire with one month never sent, one
quarantined (a broken header) and one restated by a smaller file that is held back for a person. The published
months and the board's KPI for the quarters they touch carry the flag and a note naming the files; the months whose
files all loaded carry nothing; a corrected file clears its month."""

import gzip

import pytest
from psycopg.rows import dict_row

from cspwh import db
from cspwh.ingest import feed_run
from cspwh.reporting import dashboard
from cspwh.warehouse import nightly, publish

SENT = ["2020-05", "2020-06", "2020-08", "2020-09", "2020-10"]  # 2020-07 never sent
FORCE = "leicestershire"


def name(month: str) -> str:
    return f"{month}-{FORCE}-street.csv.gz"


def rewrite(path, edit) -> None:
    with gzip.open(path, "rt", newline="") as fh:
        lines = fh.read().splitlines(keepends=True)
    path.write_bytes(gzip.compress("".join(edit(lines)).encode(), mtime=0))


def by_month(wh, build: str) -> dict:
    with db.connect(wh.url) as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"""select to_char(month_start, 'YYYY-MM') as month, bool_and(is_files_complete) as complete,
                       min(files_note) as note, count(distinct files_note) as notes
                  from {build}_marts.fct_street_crime_monthly group by 1"""
            )
            .fetchall()
        )
    return {r["month"]: r for r in rows}


def kpi(wh, build: str, indicator: str = "total_crime_rate") -> dict:
    with db.connect(wh.url) as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"""select period_label, flags, is_files_complete, files_note from {build}_marts.fct_kpi
                 where indicator_id = %s and period_type = 'quarter' and geography_level = 'county'""",
                (indicator,),
            )
            .fetchall()
        )
    return {r["period_label"]: r for r in rows}


@pytest.fixture(scope="module")
def night(module_warehouse):
    wh = module_warehouse
    staged = wh.stage(*[name(m) for m in SENT])
    rewrite(staged[3], lambda lines: [lines[0].replace("Crime type", "Crime kind"), *lines[1:]])  # 2020-09
    outcomes = {o.file_name: o.outcome for o in feed_run.ingest_feed("police_uk", "first", wh.drop)}
    assert outcomes[name("2020-09")] == "quarantined", outcomes
    # June restated by a file a fifth of its size: held for a person, the loaded June stays
    again = wh.stage(name("2020-06"))[0]
    rewrite(again, lambda lines: lines[: len(lines) // 5])
    outcomes = {o.file_name: o.outcome for o in feed_run.ingest_feed("police_uk", "second", wh.drop)}
    assert outcomes[name("2020-06")] == "held", outcomes
    build = nightly.build(nightly.new_build_schema(), "completeness")
    return wh, build


def test_a_month_never_sent_and_a_quarantined_month_are_flagged_with_their_files(night):
    wh, build = night
    months = by_month(wh, build)
    assert not months["2020-07"]["complete"] and "no file received for 1 month(s): 2020-07" in months["2020-07"]["note"]
    september = months["2020-09"]
    assert not september["complete"]
    assert name("2020-09") + " (quarantined, received " in september["note"]
    assert "its records are missing" in september["note"]
    for month in ("2020-05", "2020-08", "2020-10"):
        assert months[month]["complete"] and months[month]["note"] is None, months[month]
    assert all(m["notes"] <= 1 for m in months.values())  # one note per month, whatever the row


def test_a_held_restatement_is_noted_but_the_month_keeps_its_loaded_file(night):
    wh, build = night
    june = by_month(wh, build)["2020-06"]
    assert june["complete"]
    assert f"{name('2020-06')} (held back, received " in june["note"]
    assert f"figures use the earlier file {name('2020-06')}" in june["note"]


def test_the_boards_quarters_carry_the_flag_and_the_notes_of_their_months(night):
    wh, build = night
    quarters = kpi(wh, build)
    q2 = quarters["2020-21Q2"]  # July to September: one month missing, one quarantined
    assert "files_incomplete" in q2["flags"] and not q2["is_files_complete"]
    assert "2020-07" in q2["files_note"] and name("2020-09") in q2["files_note"]
    q3 = quarters["2020-21Q3"]  # October alone loaded so far: short by its months, but no file is missing
    assert q3["is_files_complete"] and "files_incomplete" not in q3["flags"] and q3["files_note"] is None


def test_the_dashboard_marks_the_short_figure_and_footnotes_its_files(night):
    wh, build = night
    publish.publish(build, "completeness")
    html = dashboard.render_html(dashboard.collect("2020-21Q2"))
    crime = next(line for line in html.splitlines() if "Total crime rate" in line and "<sup>" in line)
    footnotes = html[html.index('<div class="notes">') :]
    assert "files short" in html[html.index("Total crime rate") :][:2000]
    assert "Total crime rate: Short: a file this figure needs was not loaded" in footnotes
    assert name("2020-09") in footnotes and "2020-07" in footnotes
    assert crime


def test_a_corrected_file_clears_its_month(night, module_warehouse):
    wh, _ = night
    wh.stage(name("2020-09"))
    outcomes = {o.file_name: o.outcome for o in feed_run.ingest_feed("police_uk", "third", wh.drop)}
    assert outcomes[name("2020-09")] == "loaded", outcomes
    build = nightly.build(nightly.new_build_schema(), "completeness-again")
    months = by_month(wh, build)
    assert months["2020-09"]["complete"] and months["2020-09"]["note"] is None
    assert not months["2020-07"]["complete"]
    assert "files_incomplete" in kpi(wh, build)["2020-21Q2"]["flags"]  # July is still missing
