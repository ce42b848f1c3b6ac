"""The numba fast path for text KVK numbers equals the polars expression pipeline."""

from __future__ import annotations

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kvklink._identifiers import FAST_PATH_MIN_ROWS, _text_series, kvk_number_expr

ALPHABET = "0123456789 .-\t\n:KkVvNnRrUuMmEeLBabc()/,\u00a0é"
pieces = st.sampled_from(
    ["KvK ", "KvK-nr. ", "KVK-nummer: ", "kvk nr ", "NL", "B01", ".0", ".00", " (hoofdvestiging)"]
)
values = st.one_of(
    st.none(),
    st.text(alphabet=ALPHABET, max_size=24),
    st.lists(st.one_of(pieces, st.text(alphabet="0123456789 .-", max_size=12)), max_size=4).map(
        "".join
    ),
)


def _both(
    raw: list[str | None],
) -> tuple[list[tuple[str | None, str]], list[tuple[str | None, str]]]:
    s = pl.Series("k", raw, dtype=pl.String)
    ref = _text_series(s, engine="polars").struct.unnest().rows()
    fast = _text_series(s, engine="numba").struct.unnest().rows()
    return ref, fast


@settings(max_examples=100, deadline=None)
@given(st.lists(values, min_size=1, max_size=60))
@example(["12345678.0", "12.34.56.70", "-12345678.0", "12345678.", "", " ", None])
@example(["nvt", "e", "-", "KvK", "KvK\n12345678", "1234\u00a05678", "١٢٣٤٥٦٧٨"])
def test_fast_path_equals_reference(raw: list[str | None]) -> None:
    ref, fast = _both(raw)
    assert fast == ref


def test_large_column_uses_fast_path_through_the_expression() -> None:
    n = FAST_PATH_MIN_ROWS + 10
    raw = [f"KvK {i:08d}"[:12] if i % 3 else f"{i:08d}.0" for i in range(n)]
    df = pl.DataFrame({"k": raw})
    out = df.select(kvk_number_expr("k", numeric=False).struct.unnest())
    ref = _text_series(df["k"], engine="polars").struct.unnest()
    assert out.equals(ref)
    assert out["reason"].value_counts().height >= 1
    assert out.filter(pl.col("reason") == "ok").height == n


def test_sliced_and_chunked_series() -> None:
    s = pl.Series("k", [f"KvK {i:08d}" if i % 7 else None for i in range(10_000)])
    for values in (s.slice(1234, 5000), pl.concat([s.head(5000), s.tail(5000)], rechunk=False)):
        fast = _text_series(values, engine="numba").struct.unnest()
        assert fast.equals(_text_series(values, engine="polars").struct.unnest())
    assert _text_series(s.slice(1234, 5000), engine="numba").struct.field("kvk")[0] == "00001234"
