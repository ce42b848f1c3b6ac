"""Reading CSV/Parquet tables with one-line errors, and atomic writes (temporary file + rename).

Shared by the command-line commands. Errors are :class:`FileProblem` (an
:class:`~kvklink.errors.InputError`): they name the role and path of the file and end with a hint;
parser messages are never passed on, because they can quote cell values.

Examples
--------
>>> import tempfile, pathlib, polars as pl
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "t.parquet"
...     atomic_write(path, lambda fh: pl.DataFrame({"a": [1]}).write_parquet(fh))
...     read_table(path, role="INPUT").shape
(1, 1)
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Literal

import polars as pl

from kvklink.errors import InputError

__all__ = ["FileProblem", "atomic_write", "read_table", "table_format", "write_table"]

TableFormat = Literal["csv", "parquet"]
_CSV = {".csv"}
_PARQUET = {".parquet", ".pq"}


class FileProblem(InputError):
    """A file that cannot be used as given (wrong suffix, missing, empty, unreadable)."""


def table_format(path: Path, *, role: str) -> TableFormat:
    """``"csv"`` or ``"parquet"`` from the file suffix; anything else is a :class:`FileProblem`."""
    suffix = path.suffix.lower()
    if suffix in _CSV:
        return "csv"
    if suffix in _PARQUET:
        return "parquet"
    msg = f"{role} {str(path)!r} must end in .csv or .parquet. Hint: rename the file."
    raise FileProblem(msg)


def read_table(
    path: Path,
    *,
    role: str,
    schema_overrides: Mapping[str, pl.DataType | type[pl.DataType]] | None = None,
) -> pl.DataFrame:
    """Read a CSV or Parquet file; ``schema_overrides`` fixes CSV column types (e.g. text ids)."""
    fmt = table_format(path, role=role)
    if not path.exists():
        msg = f"{role} {str(path)!r} does not exist. Hint: check the path."
        raise FileProblem(msg)
    if not path.is_file() or not os.access(path, os.R_OK):
        msg = f"{role} {str(path)!r} is not a readable file. Hint: check its permissions."
        raise FileProblem(msg)
    if path.stat().st_size == 0:
        msg = f"{role} {str(path)!r} is empty. Hint: check that the export finished."
        raise FileProblem(msg)
    try:
        if fmt == "csv":
            return pl.read_csv(
                path,
                schema_overrides=dict(schema_overrides or {}),
                infer_schema_length=10_000,
                try_parse_dates=True,
            )
        return pl.read_parquet(path)
    except OSError as exc:
        msg = f"cannot read {role} {str(path)!r} ({exc.strerror or type(exc).__name__})."
        raise FileProblem(msg) from None
    except Exception as exc:
        # Parser messages can quote cell values, so only the error type is shown.
        msg = (
            f"cannot read {role} {str(path)!r} as {fmt.upper()} ({type(exc).__name__}). "
            "Hint: check the file format and that it is not truncated."
        )
        raise FileProblem(msg) from None


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any], *, private: bool = False) -> None:
    """Write through ``write(file)`` into a temporary file next to ``path``, then rename it.

    A crash leaves either the old file or the new one, never half a file. ``private`` creates the
    file with mode 0600 (for files holding raw identifiers).
    """
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_table(
    path: Path,
    frame: pl.DataFrame,
    *,
    metadata: dict[str, str] | None = None,
    private: bool = False,
) -> None:
    """Write ``frame`` atomically as CSV or Parquet (by suffix); Parquet carries ``metadata``."""
    if table_format(path, role="OUTPUT") == "csv":
        atomic_write(path, frame.write_csv, private=private)
    else:
        atomic_write(path, lambda fh: frame.write_parquet(fh, metadata=metadata), private=private)
