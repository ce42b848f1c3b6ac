"""``kvklink demo``: the whole evaluation pipeline on built-in synthetic data.

The demo is the batch pipeline (:func:`kvklink.run_pipeline`) run on the shipped example config
(``kvklink/examples/demo.toml``) over freshly generated synthetic data:

1. :func:`kvklink.prepare_demo` writes the synthetic register, KVK-number history,
   Handelsregister extract and service interactions to ``OUTDIR/synthetic/``, a fresh random DEMO
   key to ``OUTDIR/demo-key/`` (mode 0600, kept apart from the data, never printed) and the config
   to ``OUTDIR/demo.toml``;
2. :func:`kvklink.run_pipeline` runs pseudonymise (with recovery of missing KVK numbers) → link →
   cohort → match → effects → report into ``OUTDIR/run/``;
3. the demo scores the run against the synthetic truth (links to the true business unit, the
   planted effect) and prints a short summary pointing at the HTML report.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from kvklink.cli._app import EXIT_USAGE, app
from kvklink.errors import KvklinkError
from kvklink.pipeline import RunResult, prepare_demo, run_pipeline

__all__ = ["DemoOutcome", "demo_command", "run_demo"]

DEFAULT_SCALE = 0.05


@dataclass(frozen=True)
class DemoOutcome:
    """What a demo run produced: the pipeline result and the checks against the synthetic truth."""

    outdir: Path
    config: Path
    run: RunResult
    truth: dict[str, Any]
    seconds: float


def _truth_checks(outdir: Path, run: RunResult) -> dict[str, Any]:
    """Score the linked interactions against the synthetic truth table."""
    linked = pl.read_parquet(run.run_dir / "link" / "linked.parquet")
    truth = pl.read_parquet(
        outdir / "synthetic" / "truth.parquet", columns=["interaction_id", "true_be_id"]
    )
    rows = linked.filter(pl.col("link_status") == "linked").join(
        truth, on="interaction_id", how="left"
    )
    has_recovery = "recovery_status" in rows.columns
    recovered = (
        rows.filter(pl.col("recovery_status") == "accepted") if has_recovery else rows.clear()
    )
    captured = rows.filter(pl.col("recovery_status").is_null()) if has_recovery else rows
    return {
        "linked": rows.height,
        "linked_to_true_be": _share_true(rows),
        "linked_via_recovered_number": recovered.height,
        "recovered_links_to_true_be": _share_true(recovered),
        "captured_links_to_true_be": _share_true(captured),
    }


def _share_true(rows: pl.DataFrame) -> float | None:
    """Share of linked rows whose business unit is the true one (None for no rows)."""
    if rows.height == 0:
        return None
    return int((rows["be_id"] == rows["true_be_id"]).sum()) / rows.height


def run_demo(
    outdir: Path, *, scale: float = DEFAULT_SCALE, seed: int = 0, quiet: bool = True
) -> DemoOutcome:
    """Generate synthetic data, run the example pipeline on it and check it against the truth."""
    start = time.perf_counter()
    config = prepare_demo(outdir, scale=scale, seed=seed)
    run = run_pipeline(config, quiet=quiet)
    truth = _truth_checks(outdir, run)
    (run.run_dir / "demo-truth-checks.json").write_text(
        json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return DemoOutcome(outdir, config, run, truth, time.perf_counter() - start)


def _fmt_ci(block: dict[str, Any]) -> str:
    return f"{block['estimate']:+.3f} [{block['ci_low']:+.3f}, {block['ci_high']:+.3f}]"


def _summary(outcome: DemoOutcome) -> Table:
    manifest = outcome.run.manifest
    stages = manifest["stages"]
    table = Table(title="kvklink demo (synthetic data)", show_lines=False)
    table.add_column("stage", style="bold")
    table.add_column("what")
    table.add_column("value", justify="right")

    intake = stages["pseudonymise"]["ledger"]["interactions"]
    counts = intake["counts"]
    consent_out = sum(
        counts.get(k, 0)
        for k in ("no_consent", "purpose_not_covered", "consent_after_as_of", "consent_withdrawn")
    )
    recovery = stages["pseudonymise"]["ledger"].get("recovery") or {}
    table.add_row("pseudonymise", "service interactions read", f"{intake['total_input']:,}")
    if recovery:
        rec = recovery["outcomes"]
        table.add_row(
            "",
            "missing KVK numbers recovered (accepted / review / rejected)",
            f"{rec.get('accepted', 0):,} / {rec.get('review', 0):,} / {rec.get('rejected', 0):,}",
        )
    table.add_row("", "left out: no consent for the purpose", f"{consent_out:,}")
    table.add_row(
        "",
        "pseudonymised (DEMO key, id " + manifest["key"]["key_id"] + ")",
        f"{counts['pseudonymised']:,}",
    )
    table.add_row("", "row ledger reconciles", "yes" if intake["reconciles"] else "NO")

    link = stages["link"]["ledger"]["interactions"]
    truth = outcome.truth
    table.add_row("link", "linked to a business unit", f"{link['counts']['linked']:,}")
    table.add_row("", "not in the register", f"{link['counts'].get('not_in_register', 0):,}")
    if truth["linked_to_true_be"] is not None:
        table.add_row(
            "", "links to the true unit (synthetic truth)", f"{truth['linked_to_true_be']:.1%}"
        )

    cohort = stages["cohort"]["ledger"]
    table.add_row(
        "cohort", "treated units (first use in window)", f"{cohort['outcomes']['treated']:,}"
    )
    table.add_row("", "eligible control rows", f"{cohort['units']['control_rows']:,}")

    match = stages["match"]["ledger"]["outcomes"]
    table.add_row(
        "match",
        "matched treated / controls",
        f"{match['treated_matched']:,} / {match['control_matched']:,}",
    )
    effects = json.loads(
        (outcome.run.run_dir / "effects" / "effects.json").read_text(encoding="utf-8")
    )
    table.add_row("effects", effects["description"], "")
    table.add_row("", "naive users − non-users", _fmt_ci(effects["naive_difference"]))
    table.add_row("", "matched ATT (95% CI)", _fmt_ci(effects["matched_att"]))
    if effects.get("planted_effect") is not None:
        covered = "covered" if effects.get("planted_covered") else "NOT covered"
        table.add_row(
            "", f"planted effect (synthetic truth; {covered})", f"{effects['planted_effect']:+.3f}"
        )
    return table


@app.command("demo")
def demo_command(
    outdir: Path = typer.Argument(  # noqa: B008 - typer's declaration style
        Path("kvklink-demo"), help="Folder for the synthetic inputs, the DEMO key and the run."
    ),
    scale: float = typer.Option(
        DEFAULT_SCALE,
        "--scale",
        help="Size of the synthetic register (1.0 = the whole Netherlands).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic data."),
    quiet: bool = typer.Option(False, "--quiet", help="Print only the summary."),
) -> None:
    """Run the whole evaluation pipeline on built-in synthetic data; point at its report."""
    err = Console(stderr=True)
    if not (0 < scale <= 1.0):
        err.print(f"kvklink demo: --scale must be in (0, 1], got {scale}.")
        raise typer.Exit(EXIT_USAGE)
    if outdir.exists() and not outdir.is_dir():
        err.print(f"kvklink demo: {outdir} exists and is not a folder. Hint: pick another OUTDIR.")
        raise typer.Exit(EXIT_USAGE)
    console = Console()
    if not quiet:
        console.print(
            f"Generating synthetic data (scale {scale}, seed {seed}) and running the pipeline "
            f"into {outdir}/ …"
        )
    try:
        outcome = run_demo(outdir, scale=scale, seed=seed, quiet=quiet)
    except KvklinkError as exc:
        err.print(f"kvklink demo: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    console.print(_summary(outcome))
    report = outcome.run.report_html
    console.print(
        f"Done in {outcome.seconds:.1f} s. Report: {report if report else outcome.run.run_dir}\n"
        f"Run manifest: {outcome.run.manifest_path}. The DEMO key is in {outdir}/demo-key/ "
        "(never use it for real data)."
    )
