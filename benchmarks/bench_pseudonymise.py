"""Intake benchmark: pseudonymise 2.5 million KVK numbers, against a bare ``hmac.digest`` loop.

Run (timings under the shared lock so no two benchmarks time at once)::

    flock /tmp/kvklink-bench.lock python benchmarks/bench_pseudonymise.py

Cases (generated once into ``benchmarks/_data/``, git-ignored):

* ``repeated``: 2.5 M interaction rows whose ids repeat as in interaction logs (30 % of the rows
  repeat an id seen elsewhere; 1.75 M distinct ids), messy spellings (``KvK-nr. 1234 5678``,
  ``12.34.56.78``, ...), consent columns.
* ``unique``: 2.5 M distinct ids, same spellings and consent columns.

Every measurement runs in a fresh child process (this same script with ``--child``) so that its
peak resident memory (``VmHWM`` of the child, which sees numpy/polars/Arrow buffers unlike
``tracemalloc``; see :func:`_peak_rss_mb` for why not ``ru_maxrss``) belongs to that measurement
alone. The child reads the data, warms
up on 1 000 rows (numba kernel loaded from its cache), records its resident set before timing,
then times ``--repeat`` runs (wall and CPU time; the 1-minute load average is recorded since
other work on the machine inflates wall times). Measured, per case:

* ``bare_hmac_loop``: ``[hmac.digest(key, b"kvk:" + i, "sha256") for i in ids]`` over the
  normalised 8-digit ids of every row, as bytes prepared beforehand (the peer the issue names);
* ``bare_hmac_loop_hex``: the same with ``.hex()`` (what a pseudonym column actually holds);
* ``kernel``: ``kvklink._hmac_kernel.hmac_sha256_hex`` over the same normalised ids (every row,
  no de-duplication: the same work as the bare loop);
* ``kernel_1thread``: the same with ``NUMBA_NUM_THREADS=1``;
* ``pseudonymise_polars`` / ``pseudonymise_pandas``: end-to-end ``kvklink.pseudonymise`` on the
  raw frame (normalise + consent + HMAC over unique ids + join back + ledger), when available;
* ``pseudonymise_polars_no_consent``: the same with ``consent=None`` (the register side), so
  every row's id is hashed, as in the bare loop.

Separately, the first-call cost of the numba kernel is measured in a child with an empty
``NUMBA_CACHE_DIR`` (compile from scratch) and in a child that loads the on-disk cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "_data"
RESULTS = ROOT / "results" / "pseudonymise.json"
N_ROWS = int(os.environ.get("KVKLINK_BENCH_ROWS", "2500000"))
REPEAT_SHARE = 0.30
PURPOSE = "evaluatie-2024"
AS_OF = "2024-12-31"

# Messy spellings of one 8-digit number d = "12345678" (format codes 0..7).
SPELLINGS = [
    "12345678",
    "1234 5678",
    "12.34.56.78",
    "KvK 12345678",
    "KvK-nr. 12345678",
    "KVK-nummer: 12345678",
    " 12345678 ",
    "kvk 1234-5678",
]


# --------------------------------------------------------------------------- data
def _spell(digits: pl.Expr, code: pl.Expr) -> pl.Expr:
    a = digits.str.slice(0, 4)
    b = digits.str.slice(4, 4)
    pairs = [digits.str.slice(i, 2) for i in range(0, 8, 2)]
    forms = [
        digits,
        pl.concat_str([a, pl.lit(" "), b]),
        pl.concat_str(pairs, separator="."),
        pl.concat_str([pl.lit("KvK "), digits]),
        pl.concat_str([pl.lit("KvK-nr. "), digits]),
        pl.concat_str([pl.lit("KVK-nummer: "), digits]),
        pl.concat_str([pl.lit(" "), digits, pl.lit(" ")]),
        pl.concat_str([pl.lit("kvk "), a, pl.lit("-"), b]),
    ]
    expr = pl.when(code == 0).then(forms[0])
    for i, form in enumerate(forms[1:], start=1):
        expr = expr.when(code == i).then(form)
    return expr.otherwise(forms[0])


def make_case(case: str, seed: int = 2024) -> pl.DataFrame:
    """Build one case as a polars frame of raw interactions (vectorised, a few seconds)."""
    rng = np.random.default_rng(seed)
    n_distinct = N_ROWS if case == "unique" else round(N_ROWS * (1 - REPEAT_SHARE))
    pool = np.unique(rng.integers(1_000_000, 100_000_000, size=int(n_distinct * 1.1)))
    distinct = rng.permutation(pool)[:n_distinct]
    if distinct.size < n_distinct:  # pragma: no cover - the draw is large enough
        raise RuntimeError("not enough distinct ids drawn")
    if case == "unique":
        ids = distinct
    else:
        # Every distinct id once, plus repeats skewed towards frequent users (Zipf-like).
        weights = 1.0 / np.arange(1, n_distinct + 1) ** 0.7
        extra = rng.choice(n_distinct, size=N_ROWS - n_distinct, p=weights / weights.sum())
        ids = np.concatenate([distinct, distinct[extra]])
        ids = ids[rng.permutation(ids.size)]
    n = ids.size
    days = rng.integers(0, 5 * 365, size=n)
    consent = rng.random(n) < 0.9
    purposes = np.where(rng.random(n) < 0.85, f"{PURPOSE};nieuwsbrief", "nieuwsbrief")
    consent_lag = rng.integers(0, 400, size=n)
    withdrawn = rng.random(n) < 0.02
    frame = pl.DataFrame(
        {
            "interaction_id": np.arange(n),
            "_digits": ids,
            "_code": rng.integers(0, len(SPELLINGS), size=n),
            "date": pl.Series(days).cast(pl.Int32),
            "activity": rng.choice(np.array(["advies", "webinar", "subsidie", "event"]), n),
            "consent": consent,
            "consent_purposes": purposes,
            "_consent_lag": consent_lag,
            "_withdrawn": withdrawn,
        }
    )
    start = pl.date(2020, 1, 1)
    return frame.select(
        pl.col("interaction_id").cast(pl.Utf8).str.zfill(9),
        (start + pl.duration(days=pl.col("date"))).alias("date"),
        pl.col("activity"),
        _spell(pl.col("_digits").cast(pl.Utf8).str.zfill(8), pl.col("_code")).alias("kvk_nummer"),
        pl.col("consent"),
        pl.col("consent_purposes"),
        (start + pl.duration(days=pl.col("date") - pl.col("_consent_lag"))).alias("consent_date"),
        pl.when(pl.col("_withdrawn"))
        .then(start + pl.duration(days=pl.col("date") + 30))
        .otherwise(None)
        .alias("consent_withdrawn_date"),
        pl.col("_digits").cast(pl.Utf8).str.zfill(8).alias("_kvk8"),  # ground truth, bench only
    )


def data_path(case: str) -> Path:
    return DATA / f"pseudonymise_{case}_{N_ROWS}.parquet"


def ensure_data(case: str) -> Path:
    path = data_path(case)
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        make_case(case).write_parquet(tmp)
        tmp.replace(path)
    return path


def ensure_data_in_child(case: str) -> None:
    """Generate a case in a child process, so the parent stays small."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "data", case]
    subprocess.run(cmd, check=True, env=dict(os.environ))


# --------------------------------------------------------------------------- child
def _rss_now_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def _peak_rss_mb() -> float:
    """This process's peak resident set (``VmHWM``), which counts numpy/polars/Arrow buffers.

    ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is not used as the peak: Linux carries the
    parent's high-water mark over ``exec`` into the child's ``ru_maxrss``, so a child started
    from a large parent would report the parent's peak. ``VmHWM`` belongs to the child's own
    address space. (``ru_maxrss`` is still recorded, for reference.)
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def _ru_maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(measure: str, case: str, repeat: int) -> dict[str, Any]:
    import hmac

    raw = pl.read_parquet(data_path(case))
    kvk8 = raw.get_column("_kvk8")
    frame = raw.drop("_kvk8")
    key = os.urandom(32)  # timing does not depend on the key; never printed
    n_hashed = kvk8.len()
    distinct = kvk8.n_unique()

    if measure in ("bare_hmac_loop", "bare_hmac_loop_hex"):
        ids = [s.encode("ascii") for s in kvk8.to_list()]
        del raw, frame, kvk8
        digest = hmac.digest
        if measure == "bare_hmac_loop":

            def run() -> object:
                return [digest(key, b"kvk:" + i, "sha256") for i in ids]
        else:

            def run() -> object:
                return [digest(key, b"kvk:" + i, "sha256").hex() for i in ids]

        run_small = None
    elif measure in ("kernel", "kernel_1thread"):
        from kvklink._hmac_kernel import hmac_sha256_hex

        del raw, frame
        hmac_sha256_hex(key, b"kvk:", kvk8.head(1000), engine="numba")

        def run() -> object:
            return hmac_sha256_hex(key, b"kvk:", kvk8, engine="numba")

        run_small = None
    elif measure.startswith("pseudonymise_"):
        import kvklink

        pseudonymise = _pseudonymise_function()
        policy = (
            None
            if measure.endswith("no_consent")
            else kvklink.ConsentPolicy(PURPOSE, AS_OF)  # type: ignore[attr-defined]
        )
        pkey = kvklink.LinkageKey.generate().for_purpose(PURPOSE)  # type: ignore[attr-defined]
        del raw, kvk8
        data = frame.to_pandas() if measure.endswith("pandas") else frame
        small = data.head(1000)
        pseudonymise(small, key=pkey, consent=policy, column="kvk_nummer")

        def run() -> object:
            return pseudonymise(data, key=pkey, consent=policy, column="kvk_nummer")

        run_small = small
    else:
        raise SystemExit(f"unknown measure {measure!r}")
    del run_small

    rss_before = _rss_now_mb()
    load_before = os.getloadavg()[0]
    times = []
    cpu_times = []
    result: object = None
    for _ in range(repeat):
        result = None  # free the previous result before the next run
        c0 = time.process_time()
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    extra: dict[str, Any] = {}
    if measure.startswith("pseudonymise"):
        counts = result.ledger.counts  # type: ignore[attr-defined]
        extra["ledger_counts"] = dict(counts)
    best = min(times)
    return {
        "measure": measure,
        "case": case,
        "rows": frame.height if measure.startswith("pseudonymise") else n_hashed,
        "distinct_ids": distinct,
        "times_s": [round(t, 4) for t in times],
        "cpu_s": [round(t, 4) for t in cpu_times],
        "load_avg_1min_before": round(load_before, 2),
        "best_s": round(best, 4),
        "median_s": round(statistics.median(times), 4),
        "ids_per_s": round(n_hashed / best),
        "us_per_id": round(best / n_hashed * 1e6, 4),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "peak_minus_before_mb": round(_peak_rss_mb() - rss_before, 1),
        "ru_maxrss_mb": round(_ru_maxrss_mb(), 1),
        "numba_threads": _numba_threads(),
        "numba_threading_layer": _threading_layer(),
        **extra,
    }


def _pseudonymise_function() -> Any:
    import types

    import kvklink

    obj = kvklink.pseudonymise  # type: ignore[attr-defined]
    return obj.pseudonymise if isinstance(obj, types.ModuleType) else obj


def _threading_layer() -> str | None:
    if "numba" not in sys.modules:
        return None
    import numba

    try:
        return str(numba.threading_layer())
    except ValueError:  # no parallel region has run in this process
        return None


def _numba_threads() -> int | None:
    if "numba" not in sys.modules:
        return None
    import numba

    return int(numba.get_num_threads())


def jit_child() -> dict[str, Any]:
    """First call of the kernel in a fresh process: import + compile-or-load + 10 values."""
    t0 = time.perf_counter()
    from kvklink._hmac_kernel import hmac_sha256_hex

    t1 = time.perf_counter()
    hmac_sha256_hex(os.urandom(32), b"kvk:", pl.Series(["12345678"] * 10), engine="numba")
    t2 = time.perf_counter()
    return {"import_s": round(t1 - t0, 3), "first_call_s": round(t2 - t1, 3)}


# --------------------------------------------------------------------------- parent
def run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"], "args": args}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def pseudonymise_available() -> bool:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import kvklink; kvklink.ConsentPolicy; kvklink.LinkageKey; "
            "from kvklink.pseudonymise import pseudonymise",
        ],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", nargs="*", default=["unique", "repeated"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--rows", type=int, default=None, help="rows per case (default 2.5 M; smaller for a check)"
    )
    args = parser.parse_args()
    if args.rows is not None:  # children inherit it through the environment
        global N_ROWS
        N_ROWS = args.rows
        os.environ["KVKLINK_BENCH_ROWS"] = str(args.rows)

    if args.child is not None:
        if args.child == ["jit"]:
            print(json.dumps(jit_child()))
        elif args.child[0] == "data":
            ensure_data(args.child[1])
        else:
            measure, case, repeat = args.child
            print(json.dumps(child(measure, case, int(repeat))))
        return

    import numba

    e2e = pseudonymise_available()
    results: dict[str, Any] = {
        "benchmark": "pseudonymise",
        "rows": N_ROWS,
        "repeat_share": REPEAT_SHARE,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "numba": numba.__version__,
            "polars": pl.__version__,
            "numba_threads_default": int(numba.get_num_threads()),
            "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS"),
        },
        "pseudonymise_available": e2e,
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as cold:
        results["jit"] = {
            "cold_compile": run_child(["jit"], {"NUMBA_CACHE_DIR": cold}),
            "warm_cache": run_child(["jit"], {"NUMBA_CACHE_DIR": cold}),
        }
    print("jit", results["jit"], flush=True)

    measures = ["bare_hmac_loop", "bare_hmac_loop_hex", "kernel", "kernel_1thread"]
    if e2e:
        measures += [
            "pseudonymise_polars",
            "pseudonymise_pandas",
            "pseudonymise_polars_no_consent",
        ]
    for case in args.cases:
        ensure_data_in_child(case)
        rows: dict[str, Any] = {}
        for measure in measures:
            env = {"NUMBA_NUM_THREADS": "1"} if measure == "kernel_1thread" else None
            rows[measure] = run_child([measure, case, str(args.repeat)], env)
            print(case, measure, rows[measure], flush=True)
        bare = rows["bare_hmac_loop"].get("best_s")
        bare_cpu = min(rows["bare_hmac_loop"].get("cpu_s") or [0.0])
        for row in rows.values():
            if bare and "best_s" in row:
                row["ratio_to_bare_loop"] = round(row["best_s"] / bare, 3)
            if bare_cpu and row.get("cpu_s"):
                # CPU seconds summed over all threads: robust to other load on the machine.
                row["cpu_ratio_to_bare_loop"] = round(min(row["cpu_s"]) / bare_cpu, 3)
        results["cases"][case] = rows

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
