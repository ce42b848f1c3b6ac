"""Benchmark synthetic data generation: wall time and peak memory per scale, plus a Faker peer.

Each measurement runs in its own child process; peak memory is that child's ``ru_maxrss``
(from ``os.wait4``). The peer is the obvious alternative — a per-row Faker ``nl_NL`` loop for
the Handelsregister-like text columns — timed on a sample and reported as rows per second next
to kvklink's rate for the same table (no extrapolated totals are presented as measured).

Run under the shared lock::

    flock /tmp/kvklink-bench.lock python benchmarks/bench_synth.py

Writes ``benchmarks/results/synth.json``; generated data go to ``benchmarks/_data/`` (ignored).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
RESULTS = HERE / "results" / "synth.json"

CHILD_KVKLINK = r"""
import json, sys, time
t0 = time.perf_counter()
from kvklink import synth
t_import = time.perf_counter() - t0
scale, seed, outdir = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t1 = time.perf_counter()
data = synth.generate(scale=scale, seed=seed, progress=False)
t_gen = time.perf_counter() - t1
t2 = time.perf_counter()
data.write(outdir)
t_write = time.perf_counter() - t2
print(json.dumps({
    "import_s": t_import, "generate_s": t_gen, "write_s": t_write,
    "rows": {k: v.height for k, v in data.tables().items()},
    "units": int(data.register["be_id"].n_unique()),
}))
"""

CHILD_FAKER = r"""
import json, sys, time
import polars as pl
from faker import Faker
n, outpath = int(sys.argv[1]), sys.argv[2]
fake = Faker("nl_NL")
fake.seed_instance(0)
t0 = time.perf_counter()
rows = {"trade_name": [], "street": [], "house_number": [], "postcode": [], "city": []}
for _ in range(n):
    rows["trade_name"].append(fake.company())
    rows["street"].append(fake.street_name())
    rows["house_number"].append(fake.building_number())
    rows["postcode"].append(fake.postcode())
    rows["city"].append(fake.city())
frame = pl.DataFrame(rows)
t_gen = time.perf_counter() - t0
frame.write_parquet(outpath)
print(json.dumps({"generate_s": t_gen, "rows": n}))
"""


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; return its JSON plus wall time and peak RSS."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["wall_s"] = wall
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: kilobytes
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


def digests(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.glob("*.parquet"))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.05, 1.0])
    parser.add_argument("--faker-rows", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "kvklink": {},
    }
    for scale in args.scales:
        outdir = DATA / f"synth_{scale:g}"
        res = run_child(CHILD_KVKLINK, str(scale), "0", str(outdir))
        # lower bound for the text columns alone: the time covers every table
        res["handelsregister_rows_per_s"] = res["rows"]["handelsregister"] / res["generate_s"]
        report["kvklink"][f"{scale:g}"] = res
        print(f"scale {scale:g}: {json.dumps(res)}", flush=True)
    # correctness guard: the smallest scale twice with the same seed gives identical files
    small = min(args.scales)
    again = DATA / f"synth_{small:g}_again"
    run_child(CHILD_KVKLINK, str(small), "0", str(again))
    report["reproducible_parquet_bytes"] = digests(DATA / f"synth_{small:g}") == digests(again)
    # peer: per-row Faker loop for the Handelsregister text columns
    peer = run_child(CHILD_FAKER, str(args.faker_rows), str(DATA / "faker_peer.parquet"))
    peer["rows_per_s"] = peer["rows"] / peer["generate_s"]
    report["faker_per_row_peer"] = peer
    print(f"faker peer: {json.dumps(peer)}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
