"""What to generate: partnership, months, scale, seed, and the rate of every planted fault."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

# fault -> default rate (a share of rows, records or files, or 1/0 for one-off faults); the ground truth names the
# check that must catch each one
DEFAULT_FAULTS: dict[str, float] = {
    "cross_system_duplicates": 0.35,  # share of Storm incidents that also become a Sentinel case (police-originated)
    "district_aliases": 0.05,  # share of rows whose district is spelt as partners spell it ("NW Leics", "O&W")
    "windows_1252_bom": 0.02,  # share of CSV files exported from Excel as Windows-1252 with a byte order mark
    "dmy_dates": 0.03,  # share of rows with dates as dd/mm/yyyy
    "excel_serial_dates": 0.01,  # share of rows with dates as Excel serial numbers
    "late_file": 1,  # one Storm file delivered after later days' files
    "resent_file": 1,  # one file sent again, byte for byte
    "corrected_file": 1,  # one MARAC month re-sent with corrections after it was loaded
    "layout_change": 1,  # UAVA provider change: the new layout from April 2022
    "district_missing": 1,  # one UAVA quarter without one district's rows
    "dates_outside_period": 0.002,  # share of Storm files with a row dated outside the extract day
    "unknown_codes": 0.002,  # share of CSV files with a row carrying a code the contract does not allow
}


def month_range(start: str, end: str) -> list[dt.date]:
    first = dt.date.fromisoformat(start + "-01")
    last = dt.date.fromisoformat(end + "-01")
    months = []
    while first <= last:
        months.append(first)
        first = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months


@dataclasses.dataclass(frozen=True)
class Config:
    out: Path
    start: str = "2020-05"
    end: str = "2022-10"
    scale: float = 1.0
    seed: int = 42
    # the configured partnership (partnership.yml) unless named: the generator refuses any other
    partnership: str = dataclasses.field(default_factory=lambda: _configured_partnership())
    faults: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_FAULTS))
    linkage: str = "realistic"  # how hard Storm and Sentinel are to link: realistic | hard (linkage.py)

    @property
    def months(self) -> list[dt.date]:
        return month_range(self.start, self.end)

    def rate(self, fault: str) -> float:
        return float(self.faults.get(fault, 0))

    @classmethod
    def without_faults(cls, out: Path, **kw) -> Config:
        return cls(out=out, faults={k: 0 for k in DEFAULT_FAULTS}, **kw)


def _configured_partnership() -> str:
    from cspwh.catalogue import reference

    return reference.partnership()["partnership"]
