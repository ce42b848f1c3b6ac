"""Benchmark: kvklink.link versus a bare polars join of the same frames.

Exact link of 250,000 pseudonymised interactions to a 2.5-million-row pseudonymised register
history (KVK number changes included). The peer is the cheapest thing that could possibly give
an answer: ``interactions.join(history, on="pseudonym", how="left")`` — no date logic, no
validation, no ledger. Two more reference points: the same join plus the date filter
(``bare_join_interval``), and an inner join of the key columns only plus the date filter
(``slim_join_interval``: about the least work any date-aware link has to do). kvklink must give
the same be_id as a reference interval filter on the peer's join output (correctness guard)
and is timed against the bare join in the same run.

Each method runs in its own fresh Python process (so peak memory is its own), repeated
``--repeat`` times; the median wall time is reported. Run under the shared lock::

    flock /tmp/kvklink-bench.lock python benchmarks/bench_link_exact.py

Writes ``benchmarks/results/link_exact.json``; generated data goes to ``benchmarks/_data/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data" / "link_exact"
RESULT = HERE / "results" / "link_exact.json"
KEY_ID = "0123456789abcdef"


def hex_pseudonyms(rng: np.random.Generator, n: int) -> pl.Series:
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    return pl.Series("pseudonym", [bytes(r) for r in raw], dtype=pl.Binary).bin.encode("hex")


def generate(n_history: int, n_interactions: int, seed: int) -> None:
    """History: ~90% of KVK numbers with one period, ~10% with a number change (two rows)."""
    rng = np.random.default_rng(seed)
    n_changed = n_history // 11  # numbers with two periods (a change of BE)
    n_numbers = n_history - n_changed
    pseudonyms = hex_pseudonyms(rng, n_numbers)
    start = pl.Series(rng.integers(0, 9000, n_numbers)).cast(pl.Int32)
    base = pl.date(2000, 1, 1)
    hist_single = pl.DataFrame({"pseudonym": pseudonyms, "start": start}).with_columns(
        be_id=pl.int_range(pl.len(), dtype=pl.Int64),
    )
    changed = hist_single.head(n_changed)
    change_day = pl.Series(rng.integers(100, 2000, n_changed)).cast(pl.Int32)
    first = changed.with_columns(
        valid_from=base + pl.duration(days=pl.col("start")),
        valid_to=base + pl.duration(days=pl.col("start") + change_day),
    )
    second = changed.with_columns(
        be_id=pl.col("be_id") + n_numbers,
        valid_from=base + pl.duration(days=pl.col("start") + change_day),
        valid_to=pl.lit(None, dtype=pl.Date),
    )
    rest = hist_single.slice(n_changed).with_columns(
        valid_from=base + pl.duration(days=pl.col("start")),
        valid_to=pl.lit(None, dtype=pl.Date),
    )
    history = (
        pl.concat([first, second, rest])
        .select(
            "pseudonym",
            "be_id",
            pl.col("valid_from").cast(pl.Date),
            pl.col("valid_to").cast(pl.Date),
            key_id=pl.lit(KEY_ID),
            scheme_version=pl.lit("v1"),
        )
        .sample(fraction=1.0, shuffle=True, seed=seed)
    )
    # interactions: 95% known numbers (weighted to changed firms too), 5% unknown
    n_known = int(n_interactions * 0.95)
    pick = rng.integers(0, n_numbers, n_known)
    known = pseudonyms.gather(pick)
    unknown = hex_pseudonyms(rng, n_interactions - n_known)
    # most interactions are recent (the last ~4 years), some go back to 2000
    days = np.where(
        rng.random(n_interactions) < 0.8,
        rng.integers(8000, 9500, n_interactions),
        rng.integers(0, 9500, n_interactions),
    )
    interactions = pl.DataFrame(
        {
            "interaction_id": [f"i{i}" for i in range(n_interactions)],
            "pseudonym": pl.concat([known, unknown]),
            "date": (np.datetime64("2000-01-01") + days.astype("timedelta64[D]")),
            "activity": rng.choice(["webinar", "digiscan", "event", "chat"], n_interactions),
        }
    ).with_columns(pl.col("date").cast(pl.Date), key_id=pl.lit(KEY_ID), scheme_version=pl.lit("v1"))
    DATA.mkdir(parents=True, exist_ok=True)
    history.write_parquet(DATA / "history.parquet")
    interactions.write_parquet(DATA / "interactions.parquet")


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(method: str) -> None:
    """Run one method once in this process and print a JSON line."""
    import kvklink  # imported before timing in every worker, so no method pays for it

    inter = pl.read_parquet(DATA / "interactions.parquet")
    hist = pl.read_parquet(DATA / "history.parquet")
    base = rss_mib()
    t0 = time.perf_counter()
    if method == "kvklink":
        out = kvklink.link(inter, hist).frame
        be = out.get_column("be_id")
    elif method == "bare_join":
        out = inter.join(hist, on="pseudonym", how="left")
        be = out.get_column("be_id")
    elif method == "bare_join_interval":
        # the bare join plus the date filter, no validation or outcome reasons
        d = pl.col("date")
        out = (
            inter.with_row_index("row")
            .join(hist.drop("key_id", "scheme_version"), on="pseudonym", how="left")
            .filter(
                pl.col("valid_from").is_null()
                | (
                    (pl.col("valid_from") <= d)
                    & (pl.col("valid_to").is_null() | (d < pl.col("valid_to")))
                )
            )
        )
        be = out.get_column("be_id")
    elif method == "slim_join_interval":
        # about the least work any date-aware link must do: key columns only, inner join
        # (polars may build the hash table on the smaller side) + date filter; unmatched
        # interactions are simply dropped
        d = pl.col("date")
        out = (
            inter.select("pseudonym", "date")
            .join(
                hist.select("pseudonym", "be_id", "valid_from", "valid_to"),
                on="pseudonym",
                how="inner",
            )
            .filter(
                (pl.col("valid_from") <= d)
                & (pl.col("valid_to").is_null() | (d < pl.col("valid_to")))
            )
        )
        be = out.get_column("be_id")
    else:  # pragma: no cover
        raise SystemExit(f"unknown method {method}")
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "method": method,
        "seconds": elapsed,
        "peak_rss_mib": peak,
        "rss_before_mib": base,
        "rows_out": out.height,
        "be_linked": int(be.is_not_null().sum()),
    }
    if method == "kvklink":
        summary["status_counts"] = dict(out.get_column("link_status").value_counts().iter_rows())
        # correctness guard against a reference interval filter on the bare join
        d = pl.col("date")
        ref = (
            inter.with_row_index("row")
            .join(hist, on="pseudonym", how="inner")
            .filter(
                (pl.col("valid_from") <= d)
                & (pl.col("valid_to").is_null() | (d < pl.col("valid_to")))
            )
            .select("row", ref_be="be_id")
        )
        got = out.with_row_index("row").join(ref, on="row", how="left")
        summary["mismatches_vs_reference"] = int(
            got.select((pl.col("be_id").eq_missing(pl.col("ref_be"))).not_().sum()).item()
        )
    print(json.dumps(summary))


def run(method: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", method],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history", type=int, default=2_500_000)
    parser.add_argument("--interactions", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", default=None)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    generate(args.history, args.interactions, args.seed)
    methods = ["bare_join", "bare_join_interval", "slim_join_interval", "kvklink"]
    runs: dict[str, list[dict[str, object]]] = {m: [] for m in methods}
    for _ in range(args.repeat):
        for m in methods:  # interleaved, so drift hits all methods alike
            runs[m].append(run(m))
    results = {}
    for m, rs in runs.items():
        secs = [float(r["seconds"]) for r in rs]  # type: ignore[arg-type]
        results[m] = {
            "median_seconds": statistics.median(secs),
            "min_seconds": min(secs),
            "all_seconds": secs,
            "median_peak_rss_mib": statistics.median(float(r["peak_rss_mib"]) for r in rs),  # type: ignore[arg-type]
            "rss_before_mib": float(rs[0]["rss_before_mib"]),  # type: ignore[arg-type]
            **{
                k: v
                for k, v in rs[-1].items()
                if k not in {"seconds", "peak_rss_mib", "method", "rss_before_mib"}
            },
        }
    ratio = results["kvklink"]["median_seconds"] / results["bare_join"]["median_seconds"]
    slim_ratio = (
        results["kvklink"]["median_seconds"] / results["slim_join_interval"]["median_seconds"]
    )
    doc = {
        "benchmark": "exact link: kvklink.link vs bare polars join",
        "history_rows": args.history,
        "interaction_rows": args.interactions,
        "repeat": args.repeat,
        "seed": args.seed,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "polars": pl.__version__,
        },
        "results": results,
        "kvklink_over_bare_join": ratio,
        "kvklink_over_slim_join_interval": slim_ratio,
        "load_average_after": os.getloadavg(),
        "goal": "kvklink within 1.5x of the bare join",
        "goal_met": ratio <= 1.5,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
