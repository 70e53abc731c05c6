"""The real police.uk ASB records the Storm extract is grounded in: per LSOA and month, from the vendored files."""
from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip

from cspwh import reference, settings


@functools.cache
def lsoa_lookup() -> dict[str, str]:
    """LSOA -> local authority, for the force area's local authorities."""
    authorities = {g["geography_code"] for g in reference.geographies()
                   if g["geography_level"] in ("district", "unitary")}
    return {r["lsoa11cd"]: r["lad19cd"] for r in reference.rows("ons_lsoa11_to_lad19.csv")
            if r["lad19cd"] in authorities}


def asb_records(month: dt.date) -> list[dict]:
    """The month's police.uk ASB rows in the partnership force's area that have an LSOA, in file order."""
    force = reference.partnership()["police_uk_force"]
    path = settings.SOURCES_DIR / "police_uk" / "data" / force / f"{month:%Y-%m}-{force}-street.csv.gz"
    if not path.exists():
        raise FileNotFoundError(f"no vendored police.uk file for {month:%Y-%m} ({path}); the generator grounds Storm "
                                "in it: choose months inside the vendored range")
    lookup = lsoa_lookup()
    with gzip.open(path, "rt", newline="") as fh:
        return [r for r in csv.DictReader(fh)
                if r["Crime type"] == "Anti-social behaviour" and r["LSOA code"] in lookup]
