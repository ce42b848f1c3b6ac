"""Balance benchmark: kvklink.balance_table() against R's MatchIt summary() on the same weights.

Synthetic data like the matching benchmark: 5 numeric covariates and two categorical
covariates (20 and 5 levels, shown with every level), a distance column, and a fixed 1:1
matching (each treated unit paired with a random control, seeded) given as weights and
subclasses — so both tools compute balance for the SAME matched sample and only the balance
computation is timed. R side: a ``matchit(method = NULL)`` object given those weights and
subclasses, then ``summary(m)`` (balance before and after, eCDF statistics, pair distances),
timed with ``system.time``. kvklink side: ``balance_table(...)`` timed with
``time.perf_counter``. Each run is a fresh child process; peak memory is the child's peak RSS
(includes the loaded data). Agreement is tracked: the largest absolute difference of any SMD,
variance ratio or eCDF statistic between the two tools. Timing sections hold
``/tmp/kvklink-bench.lock``.

Usage::

    python benchmarks/bench_balance.py                       # default sizes
    python benchmarks/bench_balance.py --sizes 1000x100000 --cap 900
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
RESULTS = HERE / "results" / "balance.json"
LOCK = "/tmp/kvklink-bench.lock"

R_SCRIPT = r"""
args <- commandArgs(TRUE)
suppressPackageStartupMessages({library(MatchIt); library(data.table); library(jsonlite)})
d <- as.data.frame(fread(args[1], stringsAsFactors = TRUE))
d$c20 <- factor(d$c20); d$c5 <- factor(d$c5)
f <- treat ~ x1 + x2 + x3 + x4 + x5 + c20 + c5
m <- matchit(f, data = d, method = NULL, distance = d$distance)
m$weights <- d$w
m$subclass <- factor(ifelse(d$sub >= 0, d$sub, NA))
m$info$method <- "nearest"
invisible(gc())
tm <- system.time(s <- summary(m))
st <- readLines("/proc/self/status")
hwm <- as.numeric(gsub("[^0-9]", "", st[grepl("^VmHWM", st)])) / 1024
b <- s$sum.all; a <- s$sum.matched
cat(toJSON(list(seconds = tm[["elapsed"]], peak_rss_mb = hwm,
  rows = rownames(a),
  before = lapply(1:6, function(j) unname(b[, j])),
  after = lapply(1:7, function(j) unname(a[, j])),
  matchit = as.character(packageVersion("MatchIt"))), auto_unbox = TRUE, digits = NA))
"""

PY_CHILD = r"""
import json, resource, sys, time
import numpy as np, polars as pl
from kvklink import balance_table
d = pl.read_parquet(sys.argv[1])
c20 = d["c20"].to_numpy(); c5 = d["c5"].to_numpy()
X = np.column_stack([d[f"x{i}"].to_numpy() for i in range(1, 6)]
                    + [(c20 == k) for k in range(20)] + [(c5 == k) for k in range(5)]).astype(float)
names = ([f"x{i}" for i in range(1, 6)] + [f"c20{k}" for k in range(20)]
         + [f"c5{k}" for k in range(5)])
t0 = time.perf_counter()
bt = balance_table(X, names, d["treat"].to_numpy(), d["w"].to_numpy(),
                   distance=d["distance"].to_numpy(), subclass=d["sub"].to_numpy())
sec = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
keys = ["mean_treated", "mean_control", "std_mean_diff", "var_ratio", "ecdf_mean", "ecdf_max"]
print(json.dumps({"seconds": sec, "peak_rss_mb": peak, "rows": list(bt.names),
    "before": [bt.before[k].tolist() for k in keys],
    "after": [bt.after[k].tolist() for k in keys + ["std_pair_dist"]]}))
"""


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    with open(LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def make_data(n_t: int, n_c: int, seed: int = 0) -> Path:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"balance_{n_t}x{n_c}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    n = n_t + n_c
    treat = np.r_[np.ones(n_t, dtype=np.int64), np.zeros(n_c, dtype=np.int64)]
    x = rng.normal(size=(n, 5)) + 0.3 * treat[:, None]
    c20 = rng.integers(0, 20, n)
    c5 = rng.integers(0, 5, n)
    lin = x @ np.array([0.4, -0.3, 0.2, 0.1, 0.0]) - 3.0
    distance = 1.0 / (1.0 + np.exp(-lin))
    controls = rng.choice(np.arange(n_t, n), size=n_t, replace=False)
    w = np.zeros(n)
    w[:n_t] = 1.0
    w[controls] = 1.0
    sub = np.full(n, -1, dtype=np.int64)
    sub[:n_t] = np.arange(n_t)
    sub[controls] = np.arange(n_t)
    frame = pl.DataFrame(
        {
            "treat": treat,
            **{f"x{i + 1}": x[:, i] for i in range(5)},
            "c20": c20,
            "c5": c5,
            "distance": distance,
            "w": w,
            "sub": sub,
        }
    )
    frame.write_parquet(path)
    frame.write_csv(path.with_suffix(".csv"))
    return path


def run_child(cmd: list[str], cap: float) -> dict[str, object]:
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cap, check=False)
    except subprocess.TimeoutExpired:
        return {"timed_out_after_s": cap}
    if proc.returncode != 0:
        return {"error": proc.stderr[-400:]}
    out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - started
    return out


def max_diff(a: dict[str, object], b: dict[str, object]) -> float:
    worst = 0.0
    for key in ("before", "after"):
        for ca, cb in zip(a[key], b[key], strict=False):  # type: ignore[call-overload]
            va = np.asarray(ca, dtype=float)
            vb = np.asarray([np.nan if v is None or v == "NA" else v for v in cb], dtype=float)
            both = np.isfinite(va) & np.isfinite(vb)
            if both.any():
                worst = max(worst, float(np.max(np.abs(va[both] - vb[both]))))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", default=["1000x100000", "10000x1000000"])
    ap.add_argument("--cap", type=float, default=900.0)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        r_file = Path(tmp) / "bal.R"
        r_file.write_text(R_SCRIPT)
        py_file = Path(tmp) / "bal.py"
        py_file.write_text(PY_CHILD)
        for size in args.sizes:
            n_t, n_c = (int(v) for v in size.split("x"))
            path = make_data(n_t, n_c)
            with bench_lock():
                ours = run_child([sys.executable, str(py_file), str(path)], args.cap)
                peer = run_child(["Rscript", str(r_file), str(path.with_suffix(".csv"))], args.cap)
            entry: dict[str, object] = {"treated": n_t, "controls": n_c}
            for name, res in (("kvklink", ours), ("matchit", peer)):
                entry[name] = {k: v for k, v in res.items() if k not in ("before", "after", "rows")}
            if "seconds" in ours and "seconds" in peer:
                entry["speedup"] = float(peer["seconds"]) / float(ours["seconds"])  # type: ignore[arg-type]
                entry["max_abs_stat_diff"] = max_diff(ours, peer)
            results.append(entry)
            print(json.dumps(entry), flush=True)
            write_results(results)


def write_results(results: list[dict[str, object]]) -> None:
    """Write the results so far (after every size, so a long run keeps what it measured)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "balance_table vs MatchIt summary() on identical 1:1 matches",
                "machine": {"python": platform.python_version(), "cpus": 2},
                "peak_rss_note": "child peak RSS including loaded data",
                "parent_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
