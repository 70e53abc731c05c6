"""The real police.uk ASB records the Storm extract is grounded in: per LSOA and month, from the vendored files."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip

from cspwh import settings
from cspwh.catalogue import reference


@functools.cache
def lsoa_lookup() -> dict[str, str]:
    """LSOA -> local authority, for the force area's local authorities."""
    authorities = {
        g["geography_code"] for g in reference.geographies() if g["geography_level"] in ("district", "unitary")
    }
    return {
        r["lsoa11cd"]: r["lad19cd"] for r in reference.rows("ons_lsoa11_to_lad19.csv") if r["lad19cd"] in authorities
    }


def asb_records(month: dt.date) -> list[dict]:
    """The month's police.uk ASB rows in the partnership force's area that have an LSOA, in file order."""
    force = reference.partnership()["police_uk_force"]
    path = _month_file(force, month)
    if not path.exists():
        # a month just outside the vendored range borrows the same calendar month a year on (or back), so a demo can
        # start a financial year in April when the force's files start in May; never further than one year
        near = [_month_file(force, month.replace(year=month.year + step)) for step in (1, -1)]
        path = next((p for p in near if p.exists()), path)
    if not path.exists():
        raise FileNotFoundError(
            f"no vendored police.uk file for {month:%Y-%m} ({path}) or the same month a year "
            "either side; the generator grounds Storm in it: choose months inside the vendored range"
        )
    lookup = lsoa_lookup()
    with gzip.open(path, "rt", newline="") as fh:
        return [
            r for r in csv.DictReader(fh) if r["Crime type"] == "Anti-social behaviour" and r["LSOA code"] in lookup
        ]


def _month_file(force: str, month: dt.date):
    return settings.SOURCES_DIR / "police_uk" / "data" / force / f"{month:%Y-%m}-{force}-street.csv.gz"
