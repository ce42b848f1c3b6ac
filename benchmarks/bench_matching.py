"""Matching benchmark: kvklink.match() + balance() against R's MatchIt (matchit() + summary()).

Synthetic data with 5 numeric covariates and two categorical strata (20 and 5 levels) at
(treated, controls) = (1k, 100k), (10k, 1M), (50k, 2.5M). Three specifications, each run by
both tools on the same CSV in the same run:

* ``nearest``        nearest 1:1 on a glm propensity score, without replacement;
* ``nearest_exact``  the same inside exact strata of both categoricals;
* ``cem``            coarsened exact matching with MatchIt's default coarsening.

Each (tool, spec, size) runs in a fresh child process, timed from inside (kvklink:
``time.perf_counter`` around ``match()`` + ``balance()``; R: ``system.time`` around ``matchit()``
+ ``summary()``); peak memory is the child's peak resident set size (includes the loaded data).
R runs are capped (``--cap`` seconds of matching time; the child is killed and the run recorded
as timed out). Correctness is tracked too: ATT (weighted difference in means), max |SMD| over
the covariates after matching, and the share of units whose weight and matched set (subclass)
agree between the two tools. Timing sections hold ``/tmp/kvklink-bench.lock``.

Usage::

    python benchmarks/bench_matching.py                 # all sizes, both tools
    python benchmarks/bench_matching.py --sizes 1000x100000 --cap 900
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
RESULTS = HERE / "results" / "matching.json"
LOCK = "/tmp/kvklink-bench.lock"
SPECS = ("nearest", "nearest_exact", "cem")
COVARIATES = ["x1", "x2", "x3", "x4", "x5", "c20", "c5"]
TRUE_EFFECT = 2.0

R_SCRIPT = r"""
args <- commandArgs(TRUE)
path <- args[1]; spec <- args[2]; started <- args[3]; wout <- args[4]
suppressPackageStartupMessages({library(MatchIt); library(data.table); library(jsonlite)})
d <- as.data.frame(fread(path, stringsAsFactors = TRUE))
f <- treat ~ x1 + x2 + x3 + x4 + x5 + c20 + c5
invisible(gc())
writeLines(format(Sys.time(), "%s"), started)
tm <- system.time({
  m <- switch(spec,
    nearest = matchit(f, data = d, method = "nearest", distance = "glm"),
    nearest_exact = matchit(f, data = d, method = "nearest", distance = "glm",
                            exact = ~ c20 + c5),
    cem = matchit(f, data = d, method = "cem"))
  s <- summary(m)
})
w <- m$weights
tr <- d$treat == 1
att <- weighted.mean(d$y[tr], w[tr]) - weighted.mean(d$y[!tr], w[!tr])
sm <- s$sum.matched
smd <- sm[rownames(sm) != "distance", "Std. Mean Diff."]
sub <- if (is.null(m$subclass)) rep(NA_integer_, nrow(d)) else as.integer(as.character(m$subclass))
ps <- if (is.null(m$distance)) rep(NA_real_, nrow(d)) else m$distance
fwrite(data.table(w = w, subclass = sub, ps = ps), wout)
st <- readLines("/proc/self/status")
hwm <- as.numeric(gsub("[^0-9]", "", st[grepl("^VmHWM", st)])) / 1024
cat(toJSON(list(seconds = tm[["elapsed"]], peak_rss_mb = hwm, att = att,
  max_abs_smd = max(abs(smd), na.rm = TRUE),
  n_treated_matched = sum(w[tr] > 0), n_control_matched = sum(w[!tr] > 0),
  matchit = as.character(packageVersion("MatchIt"))), auto_unbox = TRUE, digits = NA))
"""


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    with open(LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def make_data(n_t: int, n_c: int, seed: int = 20261127) -> pl.DataFrame:
    """Treated and control firms with shifted covariates and a planted effect of 2."""
    rng = np.random.default_rng(seed)
    n = n_t + n_c
    treat = np.zeros(n, dtype=np.int64)
    treat[:n_t] = 1
    shift = np.array([0.5, 0.3, -0.2, 0.0, 0.1])
    x = rng.normal(size=(n, 5)) + treat[:, None] * shift
    p20_c = rng.dirichlet(np.full(20, 5.0))
    p20_t = rng.dirichlet(np.full(20, 5.0))
    p5_c = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
    p5_t = np.array([0.15, 0.2, 0.2, 0.2, 0.25])
    c20 = np.where(treat == 1, rng.choice(20, n, p=p20_t), rng.choice(20, n, p=p20_c))
    c5 = np.where(treat == 1, rng.choice(5, n, p=p5_t), rng.choice(5, n, p=p5_c))
    # every one of the 100 strata holds treated and control units (Debian's MatchIt 4.5.1
    # fails with exact strata that have no treated unit)
    cells = np.arange(100)
    for first in (0, n_t):
        c20[first : first + 100] = cells // 5
        c5[first : first + 100] = cells % 5
    eff20 = rng.normal(scale=0.5, size=20)
    eff5 = np.linspace(-0.5, 0.5, 5)
    y = (
        1.0
        + x @ np.array([1.0, 0.5, -0.5, 0.2, 0.3])
        + eff20[c20]
        + eff5[c5]
        + TRUE_EFFECT * treat
        + rng.normal(size=n)
    )
    perm = rng.permutation(n)
    return pl.DataFrame(
        {
            "treat": treat[perm],
            **{f"x{j + 1}": x[perm, j] for j in range(5)},
            "c20": [f"s{v:02d}" for v in c20[perm]],
            "c5": [f"r{v}" for v in c5[perm]],
            "y": y[perm],
        }
    )


def _kvklink_child(path: str, spec: str, wout: str) -> None:
    import kvklink

    frame = pl.read_parquet(path)
    # compile/load the numba kernels of match() and balance() outside the timing (cached on
    # disk after the first run), as R loads MatchIt before its timing
    kvklink.match(frame.head(2000), treatment="treat", covariates=COVARIATES).balance()
    kw: dict[str, object] = {}
    if spec == "nearest_exact":
        kw = {"exact": ["c20", "c5"]}
    elif spec == "cem":
        kw = {"method": "cem"}
    t0 = time.perf_counter()
    m = kvklink.match(frame, treatment="treat", covariates=COVARIATES, **kw)  # type: ignore[arg-type]
    t_match = time.perf_counter() - t0
    bal = m.balance()
    seconds = time.perf_counter() - t0
    w = m.weights_
    tr = m.treated_
    y = frame.get_column("y").to_numpy()
    att = float(np.average(y[tr], weights=w[tr]) - np.average(y[~tr], weights=w[~tr]))
    smd = np.abs(bal.after["std_mean_diff"])
    keep = np.array([nm != "distance" for nm in bal.names])
    ps = m.distance_ if m.distance_ is not None else np.full(w.size, np.nan)
    pl.DataFrame({"w": w, "subclass": m.subclass_, "ps": ps}).write_parquet(wout)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = next((line for line in status if line.startswith("VmHWM")), None)
    if hwm is not None:
        peak = int(hwm.split()[1]) / 1024
    else:  # pragma: no cover - not Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "seconds_match_only": t_match,
                "peak_rss_mb": peak,
                "att": att,
                "max_abs_smd": float(np.nanmax(smd[keep])),
                "n_treated_matched": int(np.count_nonzero(w[tr] > 0)),
                "n_control_matched": int(np.count_nonzero(w[~tr] > 0)),
            }
        )
    )


def run_kvklink(parquet: Path, spec: str, wout: Path) -> dict[str, object]:
    """One kvklink child run (the caller holds the benchmark lock)."""
    cmd = [sys.executable, __file__, "--child", str(parquet), spec, str(wout)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_r(csv: Path, spec: str, wout: Path, cap: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        started = Path(tmp) / "started"
        cmd = ["Rscript", str(script), str(csv), spec, str(started), str(wout)]
        with bench_lock():
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            t_start: float | None = None
            while proc.poll() is None:
                time.sleep(0.5)
                if t_start is None and started.exists():
                    t_start = time.monotonic()
                if t_start is not None and time.monotonic() - t_start > cap:
                    proc.kill()
                    proc.wait()
                    return {
                        "timed_out": True,
                        "seconds": None,
                        "note": f"timed out after {cap:.0f} s",
                    }
            stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        return {"error": stderr.strip().splitlines()[-1] if stderr.strip() else "failed"}
    return dict(json.loads(stdout.strip().splitlines()[-1]))


def agreement(parquet: Path, kv: Path, r: Path, spec: str) -> dict[str, float]:
    """How far the two tools agree: weights per unit, and matched pairs given R's own score.

    R's glm stops at a relative deviance change of 1e-8, so its scores differ from kvklink's
    (converged to machine precision) by ~1e-8; with 1M controls that is enough to pick another
    nearest neighbour now and then. Rerunning kvklink's matcher on R's scores isolates the
    matching algorithm itself.
    """
    import kvklink

    a = pl.read_parquet(kv)
    b = pl.read_csv(r, schema_overrides={"w": pl.Float64, "subclass": pl.Int64, "ps": pl.Float64})
    wa = a.get_column("w").to_numpy()
    wb = b.get_column("w").to_numpy()
    out = {"share_units_same_weight": float(np.mean(np.abs(wa - wb) < 1e-9))}
    if spec == "cem":
        return out
    frame = pl.read_parquet(parquet).with_columns(b.get_column("ps").alias("r_ps"))
    kw: dict[str, object] = {"exact": ["c20", "c5"]} if spec == "nearest_exact" else {}
    m = kvklink.match(frame, treatment="treat", covariates=COVARIATES, distance="r_ps", **kw)  # type: ignore[arg-type]
    tr = m.treated_
    sub_r = b.get_column("subclass").fill_null(-1).to_numpy()
    # R's pairs: the control sharing each treated unit's subclass
    ctrl_of = np.full(int(sub_r.max()) + 1, -1, dtype=np.int64)
    c_rows = np.flatnonzero(~tr & (sub_r > 0))
    ctrl_of[sub_r[c_rows]] = c_rows
    t_rows = np.flatnonzero(tr)
    r_pair = np.where(sub_r[t_rows] > 0, ctrl_of[np.maximum(sub_r[t_rows], 0)], -1)
    out["share_treated_same_control_given_r_score"] = float(
        np.mean(r_pair == m.match_matrix_[:, 0])
    )
    ps_kv = a.get_column("ps").to_numpy() if "ps" in a.columns else None
    if ps_kv is not None:
        out["max_abs_ps_difference"] = float(np.max(np.abs(ps_kv - b.get_column("ps").to_numpy())))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", nargs="*", default=["1000x100000", "10000x1000000", "50000x2500000"]
    )
    parser.add_argument("--specs", nargs="*", default=list(SPECS))
    parser.add_argument("--cap", type=float, default=600.0, help="R time cap per run (s)")
    parser.add_argument("--skip-r", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("PARQUET", "SPEC", "WOUT"))
    args = parser.parse_args()
    if args.child:
        _kvklink_child(*args.child)
        return
    DATA.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    runs: dict[str, Any] = dict(results.get("runs", {}))

    def save() -> None:
        out = {
            "benchmark": "matching",
            "true_effect": TRUE_EFFECT,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "r_cap_seconds": args.cap,
            "runs": runs,
        }
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")

    paths: dict[str, tuple[Path, Path]] = {}
    for size in args.sizes:
        n_t, n_c = (int(v) for v in size.split("x"))
        frame = make_data(n_t, n_c)
        csv = DATA / f"matching_{size}.csv"
        parquet = DATA / f"matching_{size}.parquet"
        frame.write_csv(csv)
        frame.write_parquet(parquet)
        paths[size] = (csv, parquet)
    # phase 1: kvklink everywhere (short, one hold of the lock); phase 2: MatchIt, smallest
    # first (long; the lock is taken per run)
    with bench_lock():
        for size in args.sizes:
            n_t, n_c = (int(v) for v in size.split("x"))
            for spec in args.specs:
                wk = DATA / f"w_kvklink_{spec}_{size}.parquet"
                rec = runs.get(f"{size}/{spec}", {"treated": n_t, "controls": n_c, "spec": spec})
                rec["kvklink"] = run_kvklink(paths[size][1], spec, wk)
                r_sec = rec.get("matchit", {}).get("seconds")
                if r_sec:
                    rec["speedup"] = float(r_sec) / float(rec["kvklink"]["seconds"])
                elif rec.get("matchit", {}).get("timed_out"):
                    rec["speedup_at_least"] = args.cap / float(rec["kvklink"]["seconds"])
                print(size, spec, "kvklink", rec["kvklink"], flush=True)
                runs[f"{size}/{spec}"] = rec
                save()
    if args.skip_r:
        return
    for size in args.sizes:
        csv, parquet = paths[size]
        for spec in args.specs:
            rec = runs[f"{size}/{spec}"]
            wk = DATA / f"w_kvklink_{spec}_{size}.parquet"
            wr = DATA / f"w_r_{spec}_{size}.csv"
            rres = run_r(csv, spec, wr, args.cap)
            rec["matchit"] = rres
            print(size, spec, "MatchIt", rres, flush=True)
            kv_seconds = float(rec["kvklink"]["seconds"])
            if rres.get("seconds"):
                rec["speedup"] = float(rres["seconds"]) / kv_seconds
                rec["agreement"] = agreement(parquet, wk, wr, spec)
            elif rres.get("timed_out"):
                rec["speedup_at_least"] = args.cap / kv_seconds
            save()


if __name__ == "__main__":
    main()
