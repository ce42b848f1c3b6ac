"""The HMAC-SHA256 kernel agrees with Python's ``hmac`` on every kind of input."""

from __future__ import annotations

import hmac
import os

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink._hmac_kernel import hmac_sha256_hex
from kvklink.errors import InputError, SchemaError

ENGINES = ["auto", "numba", "python"]


def reference(key: bytes, prefix: bytes, values: list[str | None]) -> list[str | None]:
    return [
        None if v is None else hmac.new(key, prefix + v.encode("utf-8"), "sha256").hexdigest()
        for v in values
    ]


keys = st.binary(min_size=0, max_size=150)  # covers keys longer than one block (hashed first)
prefixes = st.sampled_from([b"", b"kvk:", b"vest:", b"x" * 70])
texts = st.one_of(
    st.text(alphabet="0123456789", max_size=12),
    st.text(max_size=80),  # non-ASCII too, hashed as UTF-8 bytes
    st.text(alphabet="0123456789", min_size=50, max_size=200),  # multi-block messages
)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=60, deadline=None)
@given(key=keys, prefix=prefixes, values=st.lists(st.one_of(st.none(), texts), max_size=40))
def test_matches_python_hmac(
    engine: str, key: bytes, prefix: bytes, values: list[str | None]
) -> None:
    series = pl.Series("v", values, dtype=pl.String)
    out = hmac_sha256_hex(key, prefix, series, engine=engine)  # type: ignore[arg-type]
    assert out.dtype == pl.String
    assert out.name == "v"
    assert out.to_list() == reference(key, prefix, values)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("length", [0, 1, 50, 51, 52, 55, 56, 60, 63, 64, 65, 119, 120, 200])
def test_block_boundaries(engine: str, length: int) -> None:
    # prefix (4) + value: the padding boundary for one block is at 55 bytes of message,
    # but the inner hash also counts the 64-byte key block, so check lengths around both.
    key = os.urandom(32)
    values = ["7" * length, "é" * (length // 2)]
    out = hmac_sha256_hex(key, b"kvk:", pl.Series(values), engine=engine)  # type: ignore[arg-type]
    assert out.to_list() == reference(key, b"kvk:", values)


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_series_and_empty_strings(engine: str) -> None:
    key = os.urandom(32)
    empty = hmac_sha256_hex(key, b"kvk:", pl.Series("x", [], dtype=pl.String), engine=engine)  # type: ignore[arg-type]
    assert empty.len() == 0
    assert empty.dtype == pl.String
    out = hmac_sha256_hex(key, b"", pl.Series(["", ""]), engine=engine)  # type: ignore[arg-type]
    assert out.to_list() == reference(key, b"", ["", ""])


def test_known_vector_rfc4231_case_2() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    out = hmac_sha256_hex(b"Jefe", b"what do ya ", pl.Series(["want for nothing?"]))
    assert out[0] == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_refuses_wrong_types_without_echoing_the_key() -> None:
    key = b"super-secret-key-bytes-0123456789"
    with pytest.raises(SchemaError, match="dtype") as info:
        hmac_sha256_hex(key, b"kvk:", pl.Series([12345678]))
    assert "super-secret" not in str(info.value)
    with pytest.raises(SchemaError, match="polars Series"):
        hmac_sha256_hex(key, b"kvk:", ["12345678"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="'key'"):
        hmac_sha256_hex("not-bytes", b"kvk:", pl.Series(["1"]))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="'prefix'"):
        hmac_sha256_hex(key, "kvk:", pl.Series(["1"]))  # type: ignore[arg-type]


def test_numba_path_on_sliced_and_chunked_series() -> None:
    key = os.urandom(32)
    base = pl.Series("v", [f"{i:08d}" for i in range(100)] + ["x" * 70, None, "é"])
    chunked = pl.concat([base, base.slice(7, 30)], rechunk=False)
    assert chunked.n_chunks() == 2
    for series in (base.slice(13, 50), chunked, base.slice(99, 4)):
        out = hmac_sha256_hex(key, b"kvk:", series, engine="numba")
        assert out.to_list() == reference(key, b"kvk:", series.to_list())


def test_numba_path_mixed_lengths_in_one_group() -> None:
    # Lanes of one 16-value group mix one-block and multi-block messages.
    rng = np.random.default_rng(7)
    lengths = rng.integers(0, 130, size=1000)
    values = ["".join(map(str, rng.integers(0, 10, size=n))) for n in lengths]
    key = os.urandom(32)
    out = hmac_sha256_hex(key, b"vest:", pl.Series(values), engine="numba")
    assert out.to_list() == reference(key, b"vest:", values)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(InputError, match="'engine'"):
        hmac_sha256_hex(b"k", b"kvk:", pl.Series(["1"]), engine="gpu")  # type: ignore[arg-type]


@pytest.mark.slow
def test_two_million_kvk_numbers_match_hmac() -> None:
    rng = np.random.default_rng(2024)
    numbers = rng.integers(0, 100_000_000, size=2_000_000)
    series = pl.Series(numbers).cast(pl.String).str.zfill(8)
    key = os.urandom(32)
    out = hmac_sha256_hex(key, b"kvk:", series, engine="numba")
    digest = hmac.digest
    expected = [digest(key, b"kvk:" + v.encode("ascii"), "sha256").hex() for v in series]
    assert out.to_list() == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_all_null_series_stays_null(engine: str) -> None:
    out = hmac_sha256_hex(b"k" * 32, b"kvk:", pl.Series("v", [None, None]), engine=engine)  # type: ignore[arg-type]
    assert out.dtype == pl.String
    assert out.to_list() == [None, None]
