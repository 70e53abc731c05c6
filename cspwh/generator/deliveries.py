"""Replaying the generator's deliveries night by night, as partners would send them (a late file after later
days' files, a resend, a correction after the original was loaded)."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import shutil
from pathlib import Path


def schedule(generated: Path) -> list[tuple[dt.date, list[tuple[str, str]]]]:
    """[(night, [(feed, file as written under drop/<feed>/)])] in delivery order."""
    with (generated / "ground_truth" / "deliveries.csv").open() as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: (r["delivered_on"], r["feed"], r["file"]))
    return [
        (dt.date.fromisoformat(night), [(r["feed"], r["file"]) for r in group])
        for night, group in itertools.groupby(rows, key=lambda r: r["delivered_on"])
    ]


def deliver(generated: Path, drop: Path, files: list[tuple[str, str]]) -> list[Path]:
    """Copy one night's files into the drop folders under the name the partner sends them as."""
    delivered = []
    for feed, name in files:
        target = drop / feed / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(generated / "drop" / feed / name, target)
        delivered.append(target)
    return delivered
