"""Save a prepared reference to a directory and load it back, for command-line batches.

Preparing a national Handelsregister extract (standardising 2.8 million rows and indexing
them for every blocking pass) takes seconds; a batch of queries against it takes a fraction
of that. :func:`save_prepared_reference` writes everything :func:`prepare_reference` built,
so each later batch — ``kvklink recover`` in a script, or a new notebook — loads it instead
of preparing again.

The directory holds the register in the clear (names, addresses, KVK numbers): like the
extract itself it stays with the data holder. It is written atomically (a temporary
directory, then a rename) and created readable by its owner only.

A saved reference is only valid for the kvklink and polars versions that wrote it (block keys
are 64-bit polars hashes, which polars does not promise to keep across versions, and
standardisation may change between kvklink versions), and for the spec it was prepared with;
:func:`load_prepared_reference` checks all three and every array the compiled kernels read,
and refuses anything else with a clear error.

>>> import tempfile, polars as pl
>>> from kvklink.linkage import prepare_reference
>>> ref = prepare_reference(pl.DataFrame({
...     "kvk_nummer": ["01234567"], "trade_name": ["Jansen B.V."], "street": ["Laan"],
...     "house_number": ["1"], "postcode": ["1234 AB"], "city": ["Ede"]}))
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = save_prepared_reference(ref, f"{tmp}/register.prepared")
...     load_prepared_reference(path)
PreparedReference(rows=1, fields=['name', 'legal_form', 'street', 'house_number', \
'postcode', 'city'])
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from kvklink.errors import ConfigError, InputError
from kvklink.linkage._blocking import BlockingPass, index_arrays, index_from_arrays
from kvklink.linkage._compare import FieldComparison, ValueDictionary
from kvklink.linkage._recover import PreparedReference, RecoverySpec, _load_kernels
from kvklink.linkage._strings import encode_strings, prepare_tokens

__all__ = ["FORMAT", "load_prepared_reference", "save_prepared_reference"]

#: Name and version of the directory layout (in ``manifest.json``).
FORMAT = ("kvklink-prepared-reference", 1)

_MANIFEST = "manifest.json"
_STANDARDISED_COLUMNS = ("r", "__orig", "__target", "__h", "__tid")


def _versions() -> dict[str, str]:
    from kvklink import __version__

    return {"kvklink": __version__, "polars": pl.__version__}


def _spec_record(spec: RecoverySpec) -> dict[str, Any]:
    """What a prepared reference depends on: the field comparisons, blocking and target.

    As JSON types (lists, not tuples), so that it compares equal to its own saved copy.
    """
    record = {
        "fields": [asdict(f) for f in spec.fields],
        "blocking": [asdict(b) for b in spec.blocking],
        "target": spec.target,
    }
    out: dict[str, Any] = json.loads(json.dumps(record))
    return out


def _spec_from_record(record: dict[str, Any]) -> RecoverySpec:
    fields = tuple(
        FieldComparison(**{**f, "thresholds": tuple(f["thresholds"])}) for f in record["fields"]
    )
    blocking = tuple(
        BlockingPass(b["name"], tuple(b["keys"]), b["max_block_size"]) for b in record["blocking"]
    )
    return RecoverySpec(fields=fields, blocking=blocking, target=record["target"])


def save_prepared_reference(
    prepared: PreparedReference, directory: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write ``prepared`` to a new directory (atomically); return its path.

    Raises
    ------
    InputError
        ``directory`` exists and ``overwrite`` is false.
    """
    target = Path(directory)
    if target.exists() and not overwrite:
        msg = (
            f"The directory {target.name!r} already exists. Hint: choose a new path or pass "
            "overwrite=True (--overwrite) to replace it."
        )
        raise InputError(msg)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))  # mode 0700
    try:
        arrays: dict[str, npt.NDArray[Any]] = {
            f"index_{k}": v for k, v in index_arrays(prepared.index).items()
        }
        for j, d in enumerate(prepared.dictionaries):
            arrays[f"codes_{j}"] = d.codes
            d.values.to_frame("value").write_parquet(tmp / f"values_{j}.parquet")
        np.savez(tmp / "arrays.npz", allow_pickle=False, **arrays)
        prepared.frame.write_parquet(tmp / "register.parquet")
        prepared.standardised.write_parquet(tmp / "standardised.parquet")
        manifest = {
            "format": FORMAT[0], "format_version": FORMAT[1], "versions": _versions(),
            "spec": _spec_record(prepared.spec), "rows": prepared.frame.height,
        }
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if target.exists():  # overwrite: move the old one aside, then swap
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / _MANIFEST
    if not path.is_dir() or not manifest_path.is_file():
        msg = (
            f"{path.name!r} is not a prepared register (no {_MANIFEST}). Hint: write one with "
            "`kvklink prepare-register` or save_prepared_reference()."
        )
        raise InputError(msg)
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"The {_MANIFEST} of {path.name!r} cannot be read. Hint: prepare the register again."
        raise InputError(msg) from exc
    if not isinstance(manifest, dict) or (
        manifest.get("format"), manifest.get("format_version")
    ) != FORMAT:
        msg = (
            f"{path.name!r} is not a prepared register of format {FORMAT[0]} version "
            f"{FORMAT[1]}. Hint: prepare the register again with this kvklink."
        )
        raise InputError(msg)
    versions = _versions()
    if manifest.get("versions") != versions:
        saved = manifest.get("versions") or {}
        msg = (
            f"The prepared register {path.name!r} was written by kvklink "
            f"{saved.get('kvklink')} with polars {saved.get('polars')}; this is kvklink "
            f"{versions['kvklink']} with polars {versions['polars']}. Block keys and "
            "standardisation may differ between versions. Hint: prepare the register again."
        )
        raise InputError(msg)
    return manifest


def load_prepared_reference(
    directory: str | os.PathLike[str], *, spec: RecoverySpec | None = None
) -> PreparedReference:
    """Load a reference saved by :func:`save_prepared_reference`.

    ``spec`` defaults to the spec it was prepared with; a given spec must have the same
    field comparisons, blocking passes and target.

    Raises
    ------
    InputError
        Not a prepared register, written by another kvklink or polars version, or damaged.
    ConfigError
        ``spec`` differs from the one the register was prepared with.
    """
    path = Path(directory)
    manifest = _read_manifest(path)
    try:
        saved_spec = _spec_from_record(manifest["spec"])
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        msg = f"The spec in {path.name!r} cannot be read. Hint: prepare the register again."
        raise InputError(msg) from exc
    if spec is None:
        spec = saved_spec
    elif _spec_record(spec) != manifest["spec"]:
        msg = (
            f"The register in {path.name!r} was prepared with other field comparisons, "
            "blocking or target than 'spec'. Hint: prepare it again with this spec."
        )
        raise ConfigError(msg)
    try:
        frame = pl.read_parquet(path / "register.parquet")
        standardised = pl.read_parquet(path / "standardised.parquet")
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        values = [
            pl.read_parquet(path / f"values_{j}.parquet").get_column("value")
            for j in range(len(spec.fields))
        ]
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        msg = (
            f"A file of the prepared register {path.name!r} cannot be read "
            f"({type(exc).__name__}). Hint: prepare the register again."
        )
        raise InputError(msg) from exc
    n = frame.height
    names = [f.name for f in spec.fields]
    columns = [*_STANDARDISED_COLUMNS, *names]
    if (
        n != manifest.get("rows") or standardised.height != n
        or any(c not in standardised.columns for c in columns)
        or not standardised["r"].cast(pl.Int64).equals(pl.Series("r", np.arange(n)))
    ):
        msg = (
            f"The tables of the prepared register {path.name!r} do not fit together. "
            "Hint: prepare the register again."
        )
        raise InputError(msg)
    dictionaries = []
    for j, vals in enumerate(values):
        codes = arrays.get(f"codes_{j}")
        if (
            codes is None or codes.dtype != np.int64 or codes.shape != (n,)
            or vals.dtype != pl.Utf8 or vals.null_count()
            or (n and (int(codes.min()) < -1 or int(codes.max()) >= vals.len()))
        ):
            msg = (
                f"The value dictionary of field {names[j]!r} in {path.name!r} is damaged. "
                "Hint: prepare the register again."
            )
            raise InputError(msg)
        encoded = encode_strings(vals)
        prepare_tokens(encoded, spec.fields[j].similarity)
        dictionaries.append(ValueDictionary(values=vals, codes=codes, encoded=encoded))
    index = index_from_arrays(
        spec.blocking, n, {k.removeprefix("index_"): v for k, v in arrays.items()
                           if k.startswith("index_")},
    )
    _load_kernels(spec)
    return PreparedReference(spec=spec, frame=frame, standardised=standardised,
                             dictionaries=tuple(dictionaries), index=index)
