"""Reading inputs and writing outputs deterministically and atomically."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from kvklink.errors import InputError, SchemaError
from kvklink.pipeline._config import InputFile

__all__ = [
    "read_table",
    "sha256_file",
    "write_bytes",
    "write_json",
    "write_parquet",
    "write_text",
]

#: Fixed Parquet settings so that the same frame always gives the same bytes.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "statistics": False,
    "row_group_size": 1_000_000,
    "use_pyarrow": False,
}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_table(path: Path, spec: InputFile, *, name: str) -> pl.DataFrame:
    """Read an input table (Parquet or CSV) and rename its columns to kvklink's names."""
    fmt = spec.format
    if fmt == "auto":
        fmt = "csv" if path.suffix.lower() in (".csv", ".txt") else "parquet"
    # identifiers stay text (leading zeros); dates are parsed
    text_columns = {
        spec.columns.get(name, name): pl.Utf8
        for name in ("kvk_nummer", "vestigingsnummer", "house_number", "postcode", "sbi")
    }
    try:
        frame = (
            pl.read_csv(
                path,
                infer_schema_length=10_000,
                try_parse_dates=True,
                schema_overrides=text_columns,
            )
            if fmt == "csv"
            else pl.read_parquet(path)
        )
    except FileNotFoundError:
        msg = f"inputs.{name}.path: file {spec.path!r} not found. Hint: check the path."
        raise InputError(msg) from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        msg = (
            f"inputs.{name}.path: {spec.path!r} cannot be read as {fmt} "
            f"({type(exc).__name__}). Hint: set inputs.{name}.format."
        )
        raise InputError(msg) from None
    if spec.columns:
        absent = [
            f"{ours} = {theirs!r}"
            for ours, theirs in spec.columns.items()
            if theirs not in frame.columns
        ]
        if absent:
            msg = (
                f"inputs.{name}.columns: {len(absent)} column(s) not in {spec.path!r}: "
                f"{', '.join(absent)}. Hint: give the file's own column names."
            )
            raise SchemaError(msg)
        clash = [
            ours
            for ours, theirs in spec.columns.items()
            if ours in frame.columns and ours != theirs and ours not in spec.columns.values()
        ]
        frame = frame.drop(clash).rename({theirs: ours for ours, theirs in spec.columns.items()})
    return frame


def _tmp(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` with fixed settings (temp file, then rename)."""
    tmp = _tmp(path)
    frame.write_parquet(tmp, **PARQUET_OPTIONS)
    os.replace(tmp, path)


def write_bytes(data: bytes, path: Path) -> None:
    """Write bytes atomically."""
    tmp = _tmp(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_text(text: str, path: Path) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(text.encode("utf-8"), path)


def write_json(obj: Any, path: Path) -> None:
    """Write JSON with sorted keys atomically."""
    write_text(
        json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n", path
    )
