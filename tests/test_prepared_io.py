"""Saving a prepared register and loading it back: same results, strict checks, CLI."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import kvklink as kl
from kvklink.cli import app
from kvklink.errors import ConfigError, InputError
from kvklink.linkage import (
    load_prepared_reference,
    person_spec,
    prepare_reference,
    save_prepared_reference,
)

SPEC = kl.company_spec(query_id="interaction_id")
runner = CliRunner()


@pytest.fixture(scope="module")
def data(make_recovery_data: Any) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return make_recovery_data(2_000, 300, 30, seed=5)


@pytest.fixture
def saved(tmp_path: Path, data: Any) -> Path:
    register, _, _ = data
    return save_prepared_reference(prepare_reference(register, spec=SPEC), tmp_path / "reg")


def test_loaded_reference_gives_the_same_result(saved: Path, data: Any) -> None:
    register, queries, _ = data
    direct = kl.recover_kvk(queries, register, spec=SPEC)
    loaded = load_prepared_reference(saved, spec=SPEC)
    assert loaded.frame.equals(register)
    assert kl.recover_kvk(queries, loaded, spec=SPEC).frame.equals(direct.frame)
    # without a spec: the saved one, and recover_kvk takes the prepared reference's spec
    bare = load_prepared_reference(saved)
    assert (bare.spec.fields, bare.spec.blocking, bare.spec.target) == (
        SPEC.fields, SPEC.blocking, SPEC.target
    )
    plain = kl.recover_kvk(queries.drop("interaction_id"), bare).frame
    assert plain["kvk_nummer"].equals(direct.frame["kvk_nummer"])


def test_person_spec_round_trip(tmp_path: Path) -> None:
    people = pl.DataFrame({
        "given_name": ["Anna", "Bert", "Carla"], "surname": ["de Vries", "Jansen", "Smit"],
        "date_of_birth": ["1980-01-02", "1975-05-06", "1990-09-10"],
        "postcode": ["1234AB", "2345BC", "3456CD"], "house_number": ["1", "2", "3"],
        "person_id": ["p1", "p2", "p3"],
    })
    spec = person_spec()
    path = save_prepared_reference(prepare_reference(people, spec=spec), tmp_path / "p")
    loaded = load_prepared_reference(path)
    assert loaded.spec.fields == spec.fields
    assert loaded.spec.target == "person_id"
    queries = people.drop("person_id").with_columns(pl.col("surname").str.to_uppercase())
    assert kl.recover_kvk(queries, loaded).frame.equals(
        kl.recover_kvk(queries, people, spec=spec).frame
    )


def test_directory_is_private_and_not_overwritten(saved: Path, data: Any) -> None:
    assert stat.S_IMODE(saved.stat().st_mode) == 0o700
    prepared = load_prepared_reference(saved)
    with pytest.raises(InputError, match="already exists"):
        save_prepared_reference(prepared, saved)
    save_prepared_reference(prepared, saved, overwrite=True)
    assert load_prepared_reference(saved).frame.equals(data[0])
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no temporary left


def test_other_spec_is_refused(saved: Path) -> None:
    other = dataclasses.replace(SPEC, blocking=SPEC.blocking[:2])
    with pytest.raises(ConfigError, match="prepared with other"):
        load_prepared_reference(saved, spec=other)


def test_not_a_prepared_register(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a prepared register"):
        load_prepared_reference(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot be read"):
        load_prepared_reference(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="format"):
        load_prepared_reference(tmp_path)


def test_other_versions_are_refused(saved: Path) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    manifest["versions"]["polars"] = "0.0.1"
    (saved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"polars 0\.0\.1.*prepare the register again"):
        load_prepared_reference(saved)


def _damage(saved: Path, name: str, change: Any) -> None:
    with np.load(saved / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[name] = change(arrays[name])
    np.savez(saved / "arrays.npz", **arrays)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("index_blocks_rows", lambda a: a + np.uint32(10**6), "beyond the register"),
        ("index_blocks_rows", lambda a: a.astype(np.int64), "not 1-d uint32"),
        ("index_blocks_table", lambda a: a[:-1], "odd or too small"),
        ("index_blocks_table", lambda a: np.where(np.arange(a.size) == 3, 2**40, a), "boundaries"),
        ("index_blocks_directory", lambda a: a[::-1].copy(), "directory"),
        ("index_blocks_shift", lambda a: a[:1], "number of passes"),
        ("index_pass0_skipped", lambda a: a[:1], "wrong length"),
        ("codes_0", lambda a: a + 10**6, "value dictionary of field 'name'"),
        ("codes_2", lambda a: a[:-1], "value dictionary of field 'street'"),
    ],
)
def test_damaged_arrays_are_refused(saved: Path, name: str, change: Any, message: str) -> None:
    _damage(saved, name, change)
    with pytest.raises(InputError, match=message):
        load_prepared_reference(saved)


def test_missing_or_mismatched_tables_are_refused(saved: Path) -> None:
    pl.read_parquet(saved / "standardised.parquet").head(5).write_parquet(
        saved / "standardised.parquet"
    )
    with pytest.raises(InputError, match="do not fit together"):
        load_prepared_reference(saved)
    (saved / "register.parquet").unlink()
    with pytest.raises(InputError, match="cannot be read"):
        load_prepared_reference(saved)


def test_errors_carry_no_register_values(saved: Path, data: Any) -> None:
    register = data[0]
    _damage(saved, "index_blocks_rows", lambda a: a + np.uint32(10**6))
    with pytest.raises(InputError) as info:
        load_prepared_reference(saved)
    text = str(info.value)
    assert not any(k in text for k in register["kvk_nummer"].to_list())


def test_cli_prepare_register_then_recover(tmp_path: Path, data: Any) -> None:
    register, queries, _ = data
    r, q = tmp_path / "register.parquet", tmp_path / "queries.csv"
    register.write_parquet(r)
    queries.write_csv(q)
    prepared = tmp_path / "register.prepared"
    res = runner.invoke(app, ["prepare-register", str(r), str(prepared)])
    assert res.exit_code == 0, res.output
    assert "Prepared 2," in res.output
    res = runner.invoke(app, ["prepare-register", str(r), str(prepared)])
    assert res.exit_code == 2
    assert "already exists" in res.output
    outs = []
    for source in (r, prepared):
        out = tmp_path / f"out_{source.name}.parquet"
        res = runner.invoke(app, ["recover", str(q), str(source), str(out),
                                  "--id-column", "interaction_id"])
        assert res.exit_code == 0, res.output
        outs.append(pl.read_parquet(out))
    assert outs[0].equals(outs[1])
    review = tmp_path / "review.csv"
    res = runner.invoke(app, ["review", "export", str(tmp_path / "out_register.prepared.parquet"),
                              str(q), str(prepared), str(review), "--id-column", "interaction_id"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["recover", str(q), str(tmp_path), str(tmp_path / "x.csv")])
    assert res.exit_code == 2
    assert "not a prepared register" in res.output
