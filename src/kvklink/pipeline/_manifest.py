"""The run manifest: what ran, on what, with which settings, and what came out.

``manifest.json`` holds the kvklink version, the config hash, every input file's sha256 and
row count, the key id and scheme version (never key material), the seeds, per-stage row
ledgers, timings and the output files with their sha256. Timings live only here, so the
output tables and the report stay byte-identical across runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from kvklink.pipeline._config import InputFile, PipelineConfig, config_hash
from kvklink.pipeline._io import sha256_file

__all__ = [
    "MANIFEST_FORMAT",
    "STAGE_SECTIONS",
    "input_record",
    "output_records",
    "read_manifest",
    "stage_fingerprint",
]

MANIFEST_FORMAT = "kvklink-run-manifest/1"

#: Config sections and input files each stage depends on (for --resume).
STAGE_SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pseudonymise": (
        ("version", "purpose", "as_of", "key", "recovery", "inputs"),
        ("interactions", "kvk_history", "handelsregister"),
    ),
    "link": (("linkage",), ()),
    "cohort": (("cohort", "inputs"), ("register",)),
    "match": (("cohort", "matching", "effects"), ()),
    "effects": (("cohort", "matching", "effects", "validation", "inputs"), ("register",)),
    "report": (("disclosure", "report", "linkage", "effects", "purpose", "as_of"), ()),
}

#: Stages whose outputs each stage reads.
UPSTREAM: dict[str, tuple[str, ...]] = {
    "pseudonymise": (),
    "link": ("pseudonymise",),
    "cohort": ("link",),
    "match": ("cohort",),
    "effects": ("match", "cohort", "link"),
    "report": ("pseudonymise", "link", "cohort", "match", "effects"),
}


def input_record(config: PipelineConfig, spec: InputFile) -> dict[str, Any]:
    """sha256, size and row count of one input file."""
    path = config.resolve(spec.path)
    if path.suffix.lower() in (".csv", ".txt") or spec.format == "csv":
        rows = int(pl.scan_csv(path).select(pl.len()).collect().item())
    else:
        rows = int(pl.scan_parquet(path).select(pl.len()).collect().item())
    return {
        "path": spec.path,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "rows": rows,
    }


def output_records(root: Path, stage: str) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file a stage wrote (paths relative to the run directory)."""
    out: dict[str, dict[str, Any]] = {}
    folder = root / stage
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            rel = path.relative_to(root).as_posix()
            out[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def stage_fingerprint(
    config: PipelineConfig,
    stage: str,
    inputs: dict[str, dict[str, Any]],
    upstream_outputs: dict[str, dict[str, dict[str, Any]]],
    key_id: str | None,
) -> str:
    """Hash of everything a stage's outputs depend on."""
    sections, files = STAGE_SECTIONS[stage]
    doc = {
        "stage": stage,
        "config": config_hash(config, sections=sections),
        "inputs": {name: inputs[name]["sha256"] for name in files if name in inputs},
        "upstream": {
            name: {k: v["sha256"] for k, v in upstream_outputs.get(name, {}).items()}
            for name in UPSTREAM[stage]
        },
        "key_id": key_id if stage == "pseudonymise" else None,
    }
    if stage == "effects" and config.validation.planted_effects is not None:
        doc["planted"] = sha256_file(config.resolve(config.validation.planted_effects))
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The manifest of the last successful run in ``run_dir`` (None if there is none)."""
    path = run_dir / "manifest.json"
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if data.get("format") == MANIFEST_FORMAT else None
