"""Generator throughput and peak memory at scale 1, 10 and 100 (one process per scale, same months).

    .venv/bin/python bench/generator.py [--from 2021-04 --to 2021-06]

Prints rows written per second and peak resident memory for each scale, and the memory ratio of the largest scale
to the smallest: flat memory means the ratio stays small while the rows grow a hundredfold.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from cspwh.generator import generate
from cspwh.generator.config import Config
out, start, end, scale = Path(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
began = time.perf_counter()
summary = generate(Config(out=out, start=start, end=end, scale=scale))
seconds = time.perf_counter() - began
rows = sum(summary["counts"].values())
print(json.dumps({"rows": rows, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="start", default="2021-04")
    parser.add_argument("--to", dest="end", default="2021-06")
    parser.add_argument("--scales", default="1,10,100")
    args = parser.parse_args()
    results = {}
    for scale in [float(s) for s in args.scales.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(Path(tmp) / "out"), args.start, args.end, str(scale)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[scale] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[scale]
        print(
            f"scale {scale:>5g}: {r['rows']:>10,} records in {r['seconds']:7.1f} s = "
            f"{r['rows'] / r['seconds']:>9,.0f} records/s, peak memory {r['peak_mb']:7.1f} MB"
        )
    low, high = min(results), max(results)
    print(
        f"records x{results[high]['rows'] / results[low]['rows']:.0f} from scale {low:g} to {high:g}; "
        f"peak memory x{results[high]['peak_mb'] / results[low]['peak_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
