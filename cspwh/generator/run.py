"""Generate every feed for a partnership and period, month by month (memory stays flat at any scale)."""

from __future__ import annotations

import importlib
import shutil
import time

from cspwh.catalogue import reference
from cspwh.generator import asb
from cspwh.generator.common import Output
from cspwh.generator.config import Config

# feeds generated from the partnership's own records, each a module with generate(cfg, out) -> counts
OTHER_FEEDS = ["uava", "yos", "crc_rat", "marac"]


def generate(cfg: Config) -> dict:
    if cfg.partnership != reference.partnership()["partnership"]:
        raise ValueError(
            f"this deployment is configured for {reference.partnership()['partnership']!r} "
            f"(sources/reference/partnership.yml), not {cfg.partnership!r}"
        )
    if cfg.out.exists():
        shutil.rmtree(cfg.out)  # the same arguments must give the same files, with nothing left from before
    out = Output(cfg.out)
    started = time.monotonic()
    counts: dict[str, int] = {}
    sentinel = asb.Sentinel(cfg, out)
    for index, month in enumerate(cfg.months):
        sentinel.start_month(month, index)
        for key, n in asb.storm_month(cfg, out, month, sentinel.from_storm).items():
            counts[key] = counts.get(key, 0) + n
        for key, n in sentinel.finish_month().items():
            counts[key] = counts.get(key, 0) + n
    sentinel.close()
    for name in OTHER_FEEDS:
        module = importlib.import_module(f"cspwh.generator.{name}")
        for key, n in module.generate(cfg, out).items():
            counts[key] = counts.get(key, 0) + n
    summary = {
        "partnership": cfg.partnership,
        "from": cfg.start,
        "to": cfg.end,
        "scale": cfg.scale,
        "seed": cfg.seed,
        "faults": cfg.faults,
        "counts": counts,
    }
    out.close(summary)
    return {**summary, "seconds": round(time.monotonic() - started, 2)}
