"""Run the pipeline: stage by stage, atomically, with a manifest; and the demo inputs.

All stages of one run write into a staging folder inside the run directory; only when every
selected stage succeeded are their folders swapped into place and the manifest rewritten. A
failed or interrupted run therefore leaves the previous outputs and manifest as they were.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvklink.errors import InputError, KvklinkError
from kvklink.keys import LinkageKey, PurposeKey
from kvklink.pipeline._config import PipelineConfig, config_hash, example_config_text, load_config
from kvklink.pipeline._io import write_json, write_text
from kvklink.pipeline._manifest import (
    MANIFEST_FORMAT,
    UPSTREAM,
    input_record,
    output_records,
    read_manifest,
    stage_fingerprint,
)
from kvklink.pipeline._stages import STAGES, StageContext

__all__ = [
    "DEMO_KEY_FILE",
    "STAGE_NAMES",
    "RunResult",
    "StageFailedError",
    "prepare_demo",
    "run_pipeline",
]

logger = logging.getLogger(__name__)

#: Stage names in run order.
STAGE_NAMES: tuple[str, ...] = tuple(name for name, _ in STAGES)

#: File name of the demo key written by :func:`prepare_demo` (inside ``demo-key/``).
DEMO_KEY_FILE = "DEMO-KEY-not-for-real-data.hex"


class StageFailedError(KvklinkError, RuntimeError):
    """A pipeline stage failed; the previous outputs are unchanged.

    Attributes
    ----------
    stage : str
        The stage that failed.
    cause : BaseException
        The underlying error (also chained as ``__cause__``).
    """

    def __init__(self, message: str, *, stage: str, cause: BaseException) -> None:
        super().__init__(message)
        self.stage = stage
        self.cause = cause


@dataclass(frozen=True)
class RunResult:
    """What a pipeline run did.

    Attributes
    ----------
    run_dir : Path
        The run directory (outputs and ``manifest.json``).
    manifest : dict
        The manifest as written.
    ran, resumed : tuple of str
        Stages computed in this run, and stages skipped because their outputs were current.
    """

    run_dir: Path
    manifest: dict[str, Any]
    ran: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def manifest_path(self) -> Path:
        """``run_dir / "manifest.json"``."""
        return self.run_dir / "manifest.json"

    @property
    def report_html(self) -> Path | None:
        """The HTML report, if written."""
        path = self.run_dir / "report" / "report.html"
        return path if path.is_file() else None

    @property
    def report_markdown(self) -> Path | None:
        """The Markdown report, if written."""
        path = self.run_dir / "report" / "report.md"
        return path if path.is_file() else None

    @property
    def effect(self) -> dict[str, Any] | None:
        """Metrics of the effects stage (matched ATT, planted effect, coverage), if run."""
        stage = self.manifest.get("stages", {}).get("effects")
        return None if stage is None else stage.get("metrics")

    def __repr__(self) -> str:
        return (
            f"RunResult(run_dir={str(self.run_dir)!r}, ran={list(self.ran)}, "
            f"resumed={list(self.resumed)})"
        )


def _event(kind: str, **data: Any) -> None:
    event = {"event": kind, **data}
    logger.info(
        "%s %s", kind, " ".join(f"{k}={v}" for k, v in data.items()), extra={"kvklink_event": event}
    )


def _load_key(config: PipelineConfig) -> PurposeKey:
    if config.key.env is not None:
        master = LinkageKey.from_env(config.key.env)
    else:
        assert config.key.file is not None
        master = LinkageKey.from_file(config.resolve(config.key.file))
    return master.for_purpose(config.purpose)


def _recover_leftovers(run_dir: Path) -> None:
    """Undo a commit that was interrupted between its two renames; drop stale staging."""
    for trash in run_dir.glob(".trash-*"):
        stage = trash.name.split("-", 2)[-1] if trash.name.count("-") >= 2 else ""
        target = run_dir / stage
        if stage in STAGE_NAMES and not target.exists():
            os.replace(trash, target)
        else:
            shutil.rmtree(trash, ignore_errors=True)
    for staging in run_dir.glob(".staging-*"):
        shutil.rmtree(staging, ignore_errors=True)


def _outputs_current(run_dir: Path, outputs: dict[str, dict[str, Any]]) -> bool:
    from kvklink.pipeline._io import sha256_file

    for rel, rec in outputs.items():
        path = run_dir / rel
        if not path.is_file() or sha256_file(path) != rec.get("sha256"):
            return False
    return bool(outputs)


def _commit(run_dir: Path, staging: Path, stages: Sequence[str]) -> None:
    for stage in stages:
        target = run_dir / stage
        trash = run_dir / f".trash-{os.getpid()}-{stage}"
        if target.exists():
            os.replace(target, trash)
        os.replace(staging / stage, target)
        shutil.rmtree(trash, ignore_errors=True)


def run_pipeline(
    config: PipelineConfig | str | os.PathLike[str],
    *,
    stages: Sequence[str] | None = None,
    resume: bool = False,
    quiet: bool = False,
) -> RunResult:
    """Run the pipeline stages of ``config`` into its outputs directory.

    Parameters
    ----------
    config
        A :class:`PipelineConfig` or the path of a TOML config file (:func:`load_config`).
    stages
        Names from :data:`STAGE_NAMES` to run (in pipeline order); default all. A stage reads
        the outputs of earlier stages from this run or, when they did not run, from the run
        directory.
    resume
        Skip a stage whose recorded fingerprint (config sections, input hashes, upstream
        outputs, key id) still matches and whose outputs are unchanged on disk.
    quiet
        No progress display (it is shown on a terminal only). Events are always logged to the
        ``kvklink.pipeline`` logger.

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError
        An invalid config (before anything runs).
    KeyMaterialError
        The key cannot be read from the configured source.
    StageFailedError
        A stage failed (``.stage`` names it); the previous outputs are unchanged.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     result = run_pipeline(prepare_demo(tmp, scale=0.002, seed=0), quiet=True)
    ...     again = run_pipeline(result.run_dir.parent / "demo.toml", resume=True, quiet=True)
    ...     html = result.report_html.read_text(encoding="utf-8")
    >>> result.ran
    ('pseudonymise', 'link', 'cohort', 'match', 'effects', 'report')
    >>> again.ran, len(again.resumed)
    ((), 6)
    >>> html.startswith("<!DOCTYPE html>"), sorted(result.manifest["key"])
    (True, ['key_id', 'scheme_version', 'source'])
    """
    if not isinstance(config, PipelineConfig):
        config = load_config(config)
    selected = list(STAGE_NAMES) if stages is None else list(dict.fromkeys(stages))
    unknown = [s for s in selected if s not in STAGE_NAMES]
    if unknown:
        msg = (
            f"Unknown stage(s) {', '.join(map(repr, unknown))}. Hint: choose from "
            f"{', '.join(STAGE_NAMES)}."
        )
        raise InputError(msg)
    order = [s for s in STAGE_NAMES if s in selected]
    run_dir = config.output_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    _recover_leftovers(run_dir)
    previous = read_manifest(run_dir) or {}
    prev_stages: dict[str, Any] = dict(previous.get("stages", {}))
    started = time.perf_counter()
    _event("run_started", config=config.source, stages=",".join(order), resume=resume)

    inputs = {name: input_record(config, spec) for name, spec in config.input_files().items()}
    key: PurposeKey | None = None
    if "pseudonymise" in order:
        key = _load_key(config)

    def get_key() -> PurposeKey:
        assert key is not None
        return key

    key_id = key.key_id if key is not None else previous.get("key", {}).get("key_id")
    scheme = (
        key.scheme_version if key is not None else previous.get("key", {}).get("scheme_version")
    )

    staging = run_dir / f".staging-{os.getpid()}"
    staging.mkdir()
    records: dict[str, Any] = {}
    computed: list[str] = []
    resumed: list[str] = []
    collected: list[str] = []
    progress = _Progress(enabled=not quiet)
    try:
        for name, fn in STAGES:
            if name not in order:
                continue
            upstream = {
                up: (records.get(up) or prev_stages.get(up) or {}).get("outputs", {})
                for up in UPSTREAM[name]
            }
            fingerprint = stage_fingerprint(config, name, inputs, upstream, key_id)
            prev = prev_stages.get(name)
            if (
                resume
                and prev is not None
                and prev.get("fingerprint") == fingerprint
                and _outputs_current(run_dir, prev.get("outputs", {}))
            ):
                records[name] = {**prev, "status": "resumed"}
                resumed.append(name)
                _event("stage_skipped", stage=name, reason="outputs current")
                progress.done(name, None)
                continue
            _event("stage_started", stage=name)
            t0 = time.perf_counter()
            ctx = StageContext(
                config=config,
                stage=name,
                run_dir=run_dir,
                staging=staging,
                computed=frozenset(computed),
                key=get_key,
            )
            (staging / name).mkdir()
            try:
                with progress.running(name):
                    fn(ctx)
            except KeyboardInterrupt:
                _event("stage_interrupted", stage=name)
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                _event("stage_failed", stage=name, error=type(exc).__name__)
                msg = (
                    f"Stage {name!r} failed: {reason} — previous outputs in {run_dir} are "
                    "unchanged. Hint: fix the cause and run again (add --resume to skip the "
                    "stages that are still current)."
                )
                raise StageFailedError(msg, stage=name, cause=exc) from exc
            seconds = time.perf_counter() - t0
            records[name] = {
                "status": "ran",
                "fingerprint": fingerprint,
                "seconds": round(seconds, 3),
                "ledger": ctx.ledger,
                "metrics": ctx.metrics,
                "warnings": ctx.warnings,
                "outputs": {rel: rec for rel, rec in output_records(staging, name).items()},
            }
            collected += [f"{name}: {w}" for w in ctx.warnings]
            computed.append(name)
            _event("stage_finished", stage=name, seconds=round(seconds, 3))
            progress.done(name, seconds)
        _commit(run_dir, staging, computed)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    from kvklink import __version__

    all_stages = {**prev_stages, **records}
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "kvklink_version": __version__,
        "config": {"file": config.source, "sha256": config_hash(config)},
        "purpose": config.purpose,
        "as_of": config.as_of.isoformat(),
        "key": {
            "key_id": key_id,
            "scheme_version": scheme,
            "source": f"env:{config.key.env}" if config.key.env else "file",
        },
        "seeds": {
            "matching.random_state": config.matching.random_state,
            "recovery.seed": config.recovery.seed,
        },
        "inputs": inputs,
        "stages": {s: all_stages[s] for s in STAGE_NAMES if s in all_stages},
        "last_run": {
            "stages": order,
            "ran": computed,
            "resumed": resumed,
            "seconds": round(time.perf_counter() - started, 3),
        },
    }
    write_json(manifest, run_dir / "manifest.json")
    _event(
        "run_finished",
        ran=",".join(computed),
        resumed=",".join(resumed),
        seconds=manifest["last_run"]["seconds"],
    )
    return RunResult(
        run_dir=run_dir,
        manifest=manifest,
        ran=tuple(computed),
        resumed=tuple(resumed),
        warnings=tuple(collected),
    )


class _Progress:
    """A small rich status display on a terminal (stderr); silent otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.console: Any = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console

            self.console = Console(stderr=True)

    def running(self, name: str) -> Any:
        if self.console is None:
            from contextlib import nullcontext

            return nullcontext()
        return self.console.status(f"[bold]{name}[/] …")

    def done(self, name: str, seconds: float | None) -> None:
        if self.console is not None:
            what = "current, skipped" if seconds is None else f"{seconds:.1f} s"
            self.console.print(f"[green]✓[/] {name} ({what})")


def _write_key_file(directory: Path, key: LinkageKey) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / DEMO_KEY_FILE
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, (key.export_hex() + "\n").encode("ascii"))
    finally:
        os.close(fd)
    write_text(
        "A DEMO linkage key for synthetic data, written by kvklink.pipeline.prepare_demo.\n"
        "Never use it for real data; real keys come from the key custodian.\n",
        directory / "README.txt",
    )
    return path


def prepare_demo(outdir: str | os.PathLike[str], *, scale: float = 0.02, seed: int = 0) -> Path:
    """Write synthetic inputs, a fresh DEMO key and the shipped ``demo.toml`` to ``outdir``.

    ``outdir/synthetic/`` gets the :func:`kvklink.synth.generate` tables, ``outdir/demo-key/``
    a new random key (mode 0600, never printed), and ``outdir/demo.toml`` the example config,
    whose run directory is ``outdir/run/``. An existing key is kept, so re-running the demo
    gives byte-identical tables.

    Returns
    -------
    Path
        The config file; run it with :func:`run_pipeline` (or ``kvklink run``).

    Examples
    --------
    >>> import tempfile
    >>> from kvklink.pipeline import load_config
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = prepare_demo(tmp, scale=0.001, seed=1)
    ...     print(path.name, load_config(path).outputs.directory)
    demo.toml run
    """
    from kvklink.synth import generate

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    data = generate(scale=scale, seed=seed, progress=False)
    data.write(out / "synthetic")
    key_path = out / "demo-key" / DEMO_KEY_FILE
    if not key_path.is_file():
        _write_key_file(out / "demo-key", LinkageKey.generate())
    config_path = out / "demo.toml"
    write_text(example_config_text("demo.toml"), config_path)
    return config_path
