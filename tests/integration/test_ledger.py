"""The as-published ledger on a real Postgres: the board's own figures, read from its papers, imported and shown as
published; a bad ledger file rejected with its file, line and column; a re-import that doubles nothing; the
restatement check (real GX, the real check from expectations/consistency/dashboard.yml) at the printed precision and
only where the warehouse holds the period; the partnership's RAG rules against the RAG the board printed."""

import csv
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from cspwh import cli, settings
from cspwh.catalogue import indicators
from cspwh.warehouse import consistency_gate

LEDGER = settings.PROJECT_ROOT / "ledger" / "board_published_figures.csv"
PAPERS = Path(os.environ.get("CSPWH_BOARD_PAPERS") or settings.PROJECT_ROOT.parent / "shared" / "seeds")


def ledger_rows(path: Path = LEDGER) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def catalogue_ids() -> dict[str, str]:
    """Indicator id -> unit, read from the catalogue file itself (not through the code under test)."""
    raw = yaml.safe_load((settings.SOURCES_DIR / "reference" / "indicators.yml").read_text())
    return {i["id"]: i["unit"] for i in raw["indicators"]}


def geography_codes() -> set[str]:
    with (settings.SOURCES_DIR / "reference" / "geographies.csv").open(newline="") as fh:
        return {r["geography_code"] for r in csv.DictReader(fh)}


def expected_keyed(row: dict) -> bool:
    units = catalogue_ids()
    return (
        units.get(row["indicator_id"]) == row["unit"]
        and row["geography_code"] in geography_codes()
        and row["period_type"] in ("quarter", "rolling_12_months", "financial_year")
    )


@pytest.mark.skipif(not PAPERS.is_dir(), reason=f"the board papers are not at {PAPERS} (set CSPWH_BOARD_PAPERS)")
def test_every_shipped_figure_is_printed_on_its_source_line():
    rows = ledger_rows()
    assert {r["report_quarter"] for r in rows} >= {"2016-17Q4", "2018-19Q1"}
    for r in rows:
        lines = (PAPERS / r["source_document"]).read_text(encoding="utf-8").split("\n")
        line = lines[int(r["source_line"]) - 1]
        # the figure exactly as printed, digits and decimals, not part of a longer number
        assert re.search(rf"(?<![\d.]){re.escape(r['value'])}(?!\d)", line), (r["source_line"], r["value"], line)
        if r["rag"]:  # the row's RAG letter follows its figures within the flattened table row
            following = " ".join(lines[int(r["source_line"]) - 1 : int(r["source_line"]) + 4])
            assert re.search(rf"\s{r['rag']}\s", f" {following} "), (r["source_line"], r["rag"])


def test_import_keeps_every_figure_as_printed_and_shows_both_reports(warehouse, capsys):
    rows = ledger_rows()
    assert cli.main(["ledger", "import", str(LEDGER)]) == 0
    out = capsys.readouterr().out
    unkeyed = [r for r in rows if not expected_keyed(r)]
    assert f"{len(rows)} figure(s) from 2 report(s): {len(rows)} new" in out and f"{len(unkeyed)} unkeyed" in out
    stored = {
        (doc, line, column): (value, decimals, rag, rank, word, keyed, reason)
        for doc, line, column, value, decimals, rag, rank, word, keyed, reason in warehouse.query(
            """select r.source_document, f.source_line, f.column_as_printed, f.value, f.decimals, f.rag,
                            f.rank_as_printed, f.comparison_as_printed, f.is_keyed, f.unkeyed_reason
                       from audit.reported_figures f join audit.reports r using (report_id)"""
        )
    }
    assert len(stored) == len(rows)
    for r in rows:
        value, decimals, rag, rank, word, keyed, reason = stored[
            (r["source_document"], int(r["source_line"]), r["column_as_printed"])
        ]
        assert value == Decimal(r["value"]) and decimals == len(r["value"].partition(".")[2])
        assert (rag or "", rank or "", word or "") == (r["rag"], r["rank_as_printed"], r["comparison_as_printed"])
        assert keyed == expected_keyed(r) and (reason is None) == keyed
    assert unkeyed and any("violence_with_injury_rate" in (reason or "") for *_, reason in stored.values())

    for quarter, title in (("2018-19Q1", "Quarter 1, 2018/19"), ("2016-17Q4", "Quarter 4, 2016/17")):
        assert cli.main(["ledger", "show", "--quarter", quarter]) == 0
        text = capsys.readouterr().out
        assert title in text and "as published" in text
        for r in (r for r in rows if r["report_quarter"] == quarter):
            printed = f"{Decimal(r['value']):,}" + ("%" if r["unit"] == "percent" else "")
            assert re.search(rf"^\s+{re.escape(printed)}\s", text, re.M), (quarter, printed)
            assert f"{r['source_document']}:{r['source_line']};" in text
        assert text.count("UNKEYED") == sum(1 for r in unkeyed if r["report_quarter"] == quarter)


def test_reimport_doubles_nothing_and_a_corrected_figure_is_updated(warehouse, tmp_path, capsys):
    rows = ledger_rows()
    assert cli.main(["ledger", "import", str(LEDGER)]) == 0
    assert cli.main(["ledger", "import", str(LEDGER)]) == 0
    assert f"0 new, 0 updated, {len(rows)} unchanged" in capsys.readouterr().out
    assert warehouse.query("select count(*) from audit.reported_figures")[0][0] == len(rows)
    assert warehouse.query("select count(*) from audit.reports")[0][0] == 2

    corrected = tmp_path / "corrected.csv"
    text = LEDGER.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if ",766,Current Year" in line)
    corrected.write_text(text.replace(line, line.replace(",61.30,", ",61.31,")), encoding="utf-8")
    assert cli.main(["ledger", "import", str(corrected)]) == 0
    assert f"0 new, 1 updated, {len(rows) - 1} unchanged" in capsys.readouterr().out
    assert warehouse.query("""select value from audit.reported_figures
                               where source_line = 766 and column_as_printed like 'Current%'""") == [
        (Decimal("61.31"),)
    ]


def _broken(tmp_path: Path, edit) -> Path:
    rows = ledger_rows()
    fields = list(rows[0])
    edit(rows, fields)
    path = tmp_path / "broken.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _set(index: int, column: str, value: str):
    def edit(rows, fields):
        rows[index][column] = value

    return edit


def _drop_column(column: str):
    def edit(rows, fields):
        fields.remove(column)

    return edit


def _duplicate(rows, fields):
    rows.append(dict(rows[3]))


@pytest.mark.parametrize(
    "edit, line, column, words",
    [
        (_set(1, "value", "51.61%"), 3, "value", "without %"),
        (_set(4, "period_label", "2016/17"), 6, "period_label", "looks like 'R12 to 2018-19Q1'"),
        (_set(4, "period_type", "calendar_year"), 6, "period_type", "must be one of"),
        (_set(0, "rag", "Green"), 2, "rag", "G, A or R"),
        (_set(2, "unit", "per thousand"), 4, "unit", "per_1000"),
        (_set(5, "report_date", "01/10/2018"), 7, "report_date", "YYYY-MM-DD"),
        (_set(6, "source_document", ""), 8, "source_document", "is empty"),
        (_duplicate, 57, "source_line", "already on line 5"),
        (_drop_column("unit"), 1, None, "missing column(s) unit"),
    ],
)
def test_a_bad_ledger_file_is_rejected_with_file_line_and_column(
    warehouse, tmp_path, capsys, edit, line, column, words
):
    path = _broken(tmp_path, edit)
    assert cli.main(["ledger", "import", str(path)]) == 2
    err = capsys.readouterr().err
    where = f"{path}:{line}: column {column}:" if column else f"{path}:{line}:"
    assert where in err and words in err, err
    assert "nothing was imported" in err or column is None
    assert warehouse.query("select count(*) from audit.reported_figures")[0][0] == 0


def test_a_missing_file_says_which(warehouse, tmp_path, capsys):
    assert cli.main(["ledger", "import", str(tmp_path / "nope.csv")]) == 2
    assert f"{tmp_path / 'nope.csv'}: no such file" in capsys.readouterr().err


@pytest.fixture
def restatement_check(tmp_path, monkeypatch):
    """The real check from the repository, alone in a checks folder."""
    family = yaml.safe_load((settings.PROJECT_ROOT / "expectations" / "consistency" / "dashboard.yml").read_text())
    family["checks"] = [c for c in family["checks"] if c["name"] == "reported_figures_restated"]
    folder = tmp_path / "checks" / "consistency"
    folder.mkdir(parents=True)
    (folder / "dashboard.yml").write_text(yaml.safe_dump(family))
    monkeypatch.setenv("CSPWH_EXPECTATIONS_DIR", str(tmp_path / "checks"))


def latest_keyed_figures() -> dict[tuple, dict]:
    """The latest published value of each keyed figure, by the paper's date (computed here from the CSV)."""
    latest = {}
    for r in sorted(ledger_rows(), key=lambda r: r["report_date"]):
        if expected_keyed(r):
            latest[(r["indicator_id"], r["geography_code"], r["period_type"], r["period_label"])] = r
    return latest


def test_a_correction_to_a_published_quarter_is_the_one_restatement(warehouse, restatement_check):
    """A build that holds some of the published periods, each at a value that prints as the board printed it (the
    stored precision is finer), one period only partly, and one corrected figure: exactly one restatement."""
    assert cli.main(["ledger", "import", str(LEDGER)]) == 0
    latest = latest_keyed_figures()
    held = [k for k in latest if k[3].startswith("R12 to 2018-19") or k[2] == "financial_year"]
    corrected = ("total_crime_rate", "E10000018", "rolling_12_months", "R12 to 2018-19Q1")
    partial = ("hate_incident_rate", "E10000018", "rolling_12_months", "R12 to 2018-19Q1")
    assert corrected in held and partial in held and len(held) >= 5
    batch = []
    for k in held:
        r = latest[k]
        decimals = len(r["value"].partition(".")[2])
        # finer than printed, still prints the same: 61.30 printed, 61.3049 stored
        value = Decimal(r["value"]) + Decimal("0.49") * Decimal(10) ** -decimals
        complete = True
        if k == corrected:
            value = Decimal(r["value"]) + Decimal("0.0251")  # prints 61.33: a restatement
        if k == partial:
            value, complete = Decimal(r["value"]) * 2, False  # a period the build holds only in part
        batch.append((*k, value, complete))
    # an unkeyed figure's period, held at another value, and a period the board was never shown
    batch.append(("violence_with_injury_rate", "E10000018", "rolling_12_months", "R12 to 2018-19Q1", Decimal(9), True))
    batch.append(("total_crime_rate", "E10000018", "rolling_12_months", "R12 to 2022-23Q1", Decimal(70), True))
    warehouse.execute("""create schema build_ledger_marts;
        create table build_ledger_marts.fct_kpi (indicator_id text, geography_code text, period_type text,
                                                 period_label text, value numeric, is_complete boolean)""")
    from cspwh import db

    with db.connect(warehouse.url) as conn:
        conn.cursor().executemany("insert into build_ledger_marts.fct_kpi values (%s, %s, %s, %s, %s, %s)", batch)
    [result] = consistency_gate.run("build_ledger", "run-ledger")
    assert (result.success, result.unexpected_count) == (False, 1), result.examples
    [example] = result.examples
    expected = latest[corrected]
    assert (example["indicator_id"], example["period_label"]) == (corrected[0], corrected[3])
    assert Decimal(str(example["reported_value"])) == Decimal(expected["value"])
    assert Decimal(str(example["new_value"])) == Decimal(expected["value"]) + Decimal("0.0251")
    assert (example["source_document"], example["source_line"]) == (
        expected["source_document"],
        int(expected["source_line"]),
    )


def test_rules_the_board_stated_reproduce_every_rag_it_printed_and_the_default_would_not(warehouse):
    """MARAC's band (the SafeLives 28-40%, stated by the board) gives the G it printed in both papers, where the
    default tolerance rule would have given R in 2018; every printed RAG is kept in the ledger."""
    catalogue = {i["id"]: i for i in indicators.catalogue()}
    stated = [
        r
        for r in ledger_rows()
        if r["rag"] and r["indicator_id"] in catalogue and catalogue[r["indicator_id"]]["rag"].get("board_source")
    ]
    assert {r["report_quarter"] for r in stated} == {"2016-17Q4", "2018-19Q1"}
    for r in stated:
        ind = catalogue[r["indicator_id"]]
        comparator = Decimal(re.sub(r"[^\d.]", "", r["comparator_as_printed"]))
        assert indicators.rate(ind["rag"], Decimal(r["value"]), comparator, ind["up_is_good"]) == r["rag"], r
    marac_2018 = next(
        r for r in stated if r["indicator_id"] == "marac_repeat_pct" and r["report_quarter"] == "2018-19Q1"
    )
    default = {"rule": "tolerance", "tolerance_pct": 5.0}
    assert indicators.rate(default, Decimal(marac_2018["value"]), Decimal(30), False) == "R"
    # the direction rule chosen for IOM gives the G printed in both papers (41% to 42.8%)
    iom = [r for r in ledger_rows() if r["indicator_id"] == "iom_reduction_pct" and r["rag"]]
    assert len(iom) == 2 and all(
        indicators.rate(
            catalogue["iom_reduction_pct"]["rag"],
            Decimal(r["value"]),
            Decimal(r["comparator_as_printed"].rstrip("%")),
            True,
        )
        == r["rag"]
        for r in iom
    )
    assert cli.main(["ledger", "import", str(LEDGER)]) == 0
    printed = warehouse.query("select rag, count(*) from audit.reported_figures where rag is not null group by rag")
    expected = {}
    for r in ledger_rows():
        if r["rag"]:
            expected[r["rag"]] = expected.get(r["rag"], 0) + 1
    assert dict(printed) == expected


def test_ledger_show_without_figures_says_what_to_do(warehouse, capsys):
    assert cli.main(["ledger", "show", "--quarter", "2018-19Q1"]) == 2
    assert "cspwh ledger import" in capsys.readouterr().err


def test_the_ledger_file_is_documented():
    readme = (LEDGER.parent / "README.md").read_text()
    for column in ledger_rows()[0]:
        assert f"`{column}`" in readme, column
