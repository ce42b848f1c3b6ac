"""Recovery with registration periods: the number valid at the query date wins a tie."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest

import kvklink as kl
from kvklink.errors import SchemaError

D = dt.date


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    # A firm that incorporated on 2021-01-01: predecessor and successor share name and address.
    # A second, unrelated firm elsewhere has no registration period at all.
    register = pl.DataFrame({
        "kvk_nummer": ["11111111", "22222222", "33333333"],
        "trade_name": ["Bakkerij Jansen", "Bakkerij Jansen", "Fietsen De Vries"],
        "street": ["Dorpsstraat", "Dorpsstraat", "Kerkweg"],
        "house_number": ["12", "12", "3"],
        "postcode": ["1234AB", "1234AB", "9876ZX"],
        "city": ["Utrecht", "Utrecht", "Assen"],
    })
    validity = pl.DataFrame({
        "kvk_nummer": ["11111111", "22222222"],
        "valid_from": [D(2015, 1, 1), D(2021, 1, 1)],
        "valid_to": [D(2021, 1, 1), None],
    })
    queries = pl.DataFrame({
        "interaction_id": ["a", "b", "c", "d", "e"],
        "company_name": ["bakkerij jansen"] * 3 + ["Fietsen de Vries", "bakkerij jansen"],
        "street": ["Dorpsstr."] * 3 + ["Kerkweg", "Dorpsstr."],
        "house_number": ["12"] * 3 + ["3", "12"],
        "postcode": ["1234 ab"] * 3 + ["9876ZX", "1234 ab"],
        "city": ["utrecht"] * 3 + ["Assen", "utrecht"],
        # before, on and after the change; an unrelated firm; no date
        "date": [D(2019, 5, 1), D(2021, 1, 1), D(2023, 3, 3), D(2022, 1, 1), None],
    })
    return register, queries, validity


def test_without_validity_the_two_numbers_tie() -> None:
    register, queries, _ = _frames()
    res = kl.recover_kvk(queries, register, thresholds=(0.5, 0.2))
    st = res.frame["status"].to_list()
    assert st[:3] == ["review"] * 3  # a tie: nobody can choose between the two numbers
    assert st[3] == "accepted"


def test_validity_picks_the_number_registered_at_the_date() -> None:
    register, queries, validity = _frames()
    res = kl.recover_kvk(queries, register, thresholds=(0.5, 0.2), validity=validity)
    f = res.frame
    # valid_from inclusive, valid_to exclusive
    assert f["kvk_nummer"].to_list()[:4] == ["11111111", "22222222", "22222222", "33333333"]
    assert f["status"].to_list()[:4] == ["accepted"] * 4
    # a query without a date keeps the tie
    assert f["status"][4] == "review"
    # every candidate pair is still reported (validity only decides who competes)
    plain = kl.recover_kvk(queries, register, thresholds=(0.5, 0.2))
    assert res.candidates.equals(plain.candidates)
    assert f["n_candidates"].to_list() == plain.frame["n_candidates"].to_list()


def test_validity_accepts_pandas_and_datetimes() -> None:
    register, queries, validity = _frames()
    vp = validity.with_columns(pl.col("valid_from").cast(pl.Datetime("us"))).to_pandas()
    res = kl.recover_kvk(queries.to_pandas(), register, thresholds=(0.5, 0.2), validity=vp)
    assert isinstance(res.frame, pd.DataFrame)
    assert res.frame["kvk_nummer"].tolist()[:3] == ["11111111", "22222222", "22222222"]


def test_validity_needs_its_columns_and_a_date_column() -> None:
    register, queries, validity = _frames()
    with pytest.raises(SchemaError, match="valid_to"):
        kl.recover_kvk(queries, register, validity=validity.drop("valid_to"))
    with pytest.raises(SchemaError, match="when"):
        kl.recover_kvk(queries, register, validity=validity, date_column="when")
    with pytest.raises(SchemaError, match="dates"):
        kl.recover_kvk(queries.with_columns(pl.lit("x").alias("date")), register,
                       validity=validity)


def test_validity_from_csv_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from kvklink.cli import app

    register, queries, validity = _frames()
    q, r, v = tmp_path / "q.csv", tmp_path / "r.csv", tmp_path / "v.csv"
    queries.write_csv(q)
    register.write_csv(r)
    validity.write_csv(v)
    out = tmp_path / "out.csv"
    args = ["recover", str(q), str(r), str(out), "--accept", "0.5", "--review", "0.2"]
    res = CliRunner().invoke(app, [*args, "--validity", str(v)])
    assert res.exit_code == 0, res.output
    got = pl.read_csv(out, infer_schema=False)
    assert got["kvk_nummer"].to_list()[:3] == ["11111111", "22222222", "22222222"]
    res = CliRunner().invoke(app, [*args, "--validity", str(v), "--date-column", "when"])
    assert res.exit_code == 2
    assert "when" in res.output


def test_validity_with_no_candidates_or_no_queries() -> None:
    register, queries, validity = _frames()
    lost = queries.with_columns(
        pl.lit("9999ZZ").alias("postcode"), pl.lit("zzz qqq").alias("company_name"),
        pl.lit("x").alias("city"), pl.lit("Nowhere").alias("street"),
        pl.lit("999").alias("house_number"),
    )
    assert kl.recover_kvk(lost, register, validity=validity).counts["rejected"] == 5
    assert kl.recover_kvk(queries.head(0), register, validity=validity).frame.height == 0
