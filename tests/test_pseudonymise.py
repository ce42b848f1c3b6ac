"""pseudonymise(): outcomes, allow-list, pandas/polars, errors, and no raw KVK number leaking."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import warnings

import pandas as pd
import polars as pl
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

import kvklink
from kvklink import ConsentPolicy, LinkageKey, PurposeKey, pseudonymise
from kvklink.errors import (
    ConsentError,
    IdentifierError,
    InputError,
    KvklinkError,
    SchemaError,
)
from kvklink.pseudonymise import DEFAULT_KEEP, IDENTIFYING_COLUMNS

POLICY = ConsentPolicy("evaluatie-2024", "2024-06-30")
TEST_KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def independent_pseudonym(kvk8: str, purpose: str = "evaluatie-2024") -> str:
    kp = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"kvklink/v1/purpose/" + purpose.encode(),
    ).derive(bytes.fromhex(TEST_KEY_HEX))
    return hmac.new(kp, b"kvk:" + kvk8.encode(), hashlib.sha256).hexdigest()


def test_interactions_end_to_end(raw_interactions: pl.DataFrame, purpose_key: PurposeKey) -> None:
    res = pseudonymise(raw_interactions, key=purpose_key, consent=POLICY)
    assert res.frame.columns == [
        "interaction_id",
        "date",
        "activity",
        "pseudonym",
        "key_id",
        "scheme_version",
    ]
    assert res.frame["interaction_id"].to_list() == ["i0", "i1", "i2"]
    assert res.frame["pseudonym"].to_list() == [
        independent_pseudonym("12345678"),
        independent_pseudonym("12345678"),
        independent_pseudonym("87654321"),
    ]
    assert set(res.frame["key_id"]) == {purpose_key.key_id}
    assert set(res.frame["scheme_version"]) == {"v1"}
    assert {k: v for k, v in res.ledger.counts.items() if v} == {
        "pseudonymised": 3,
        "vestigingsnummer": 1,
        "missing": 1,
        "no_consent": 1,
        "purpose_not_covered": 1,
        "consent_after_as_of": 1,
    }
    assert res.ledger.reconciles()
    assert res.ledger.total_input == raw_interactions.height
    assert res.quarantine["interaction_id"].to_list() == ["i3", "i4"]
    assert res.quarantine["reason"].to_list() == ["missing", "vestigingsnummer"]
    assert res.quarantine.columns == [*raw_interactions.columns, "reason"]
    assert res.key_id == purpose_key.key_id
    assert res.scheme_version == "v1"
    assert set(res.dropped_columns) == {
        "kvk_nummer",
        "company_name",
        "email",
        "consent",
        "consent_purposes",
        "consent_date",
        "consent_withdrawn_date",
    }
    ctx = res.ledger.context
    assert ctx["as_of"] == "2024-06-30"
    assert ctx["key_id"] == purpose_key.key_id


def test_pandas_in_pandas_out_same_result(
    raw_interactions: pl.DataFrame, purpose_key: PurposeKey
) -> None:
    pl_res = pseudonymise(raw_interactions, key=purpose_key, consent=POLICY)
    pd_res = pseudonymise(raw_interactions.to_pandas(), key=purpose_key, consent=POLICY)
    assert isinstance(pd_res.frame, pd.DataFrame)
    assert isinstance(pd_res.quarantine, pd.DataFrame)
    assert pd_res.frame["pseudonym"].tolist() == pl_res.frame["pseudonym"].to_list()
    assert pd_res.frame.dtypes["pseudonym"] == pd.StringDtype("pyarrow")
    assert pd_res.frame.dtypes["date"] == pl_res.frame.to_pandas().dtypes["date"]
    assert pd_res.frame.index.equals(pd.RangeIndex(3))
    assert pd_res.quarantine["reason"].tolist() == ["missing", "vestigingsnummer"]
    assert list(pd_res.quarantine.columns) == [*raw_interactions.columns, "reason"]
    assert pd_res.quarantine["company_name"].tolist() == ["Gamma", "Delta"]
    assert pd_res.dropped_columns == pl_res.dropped_columns
    assert pd_res.frame.columns.tolist() == pl_res.frame.columns
    assert pd_res.ledger == pl_res.ledger
    lazy = pseudonymise(raw_interactions.lazy(), key=purpose_key, consent=POLICY)
    assert lazy.frame.equals(pl_res.frame)


def test_pandas_errors_name_every_column(purpose_key: PurposeKey) -> None:
    wide = pd.DataFrame({"kvk": ["12345678"], "a": [1], "b": ["x"]})
    with pytest.raises(SchemaError, match="'kvk', 'a', 'b'"):
        pseudonymise(wide, key=purpose_key, consent=None)
    with pytest.raises(SchemaError, match="non-string column name"):
        pseudonymise(pd.DataFrame({0: ["12345678"]}), key=purpose_key, consent=None)
    with pytest.raises(ConsentError, match="needs column 'consent'"):
        pseudonymise(wide, key=purpose_key, consent=POLICY, column="kvk")


def test_pandas_float_column_with_nan_pads_and_counts(purpose_key: PurposeKey) -> None:
    df = pd.DataFrame({"kvk_nummer": [12345678.0, float("nan"), 1234567.0], "be_id": [1, 2, 3]})
    res = pseudonymise(df, key=purpose_key, consent=None)
    assert res.frame["pseudonym"].tolist() == [
        independent_pseudonym("12345678"),
        independent_pseudonym("01234567"),
    ]
    assert res.ledger.flags == {"padded_numeric": 1}
    assert res.ledger["missing"] == 1


def test_pandas_mixed_object_column(purpose_key: PurposeKey) -> None:
    df = pd.DataFrame({"kvk_nummer": [12345678, "KvK 8765 4321", None]})
    res = pseudonymise(df, key=purpose_key, consent=None)
    assert res.frame["pseudonym"].tolist() == [
        independent_pseudonym("12345678"),
        independent_pseudonym("87654321"),
    ]


def test_register_side(purpose_key: PurposeKey) -> None:
    history = pl.DataFrame(
        {
            "kvk_nummer": ["01234567", "12345678", "12345678"],
            "be_id": [10, 20, 20],
            "valid_from": [dt.date(2010, 1, 1), dt.date(2012, 1, 1), dt.date(2015, 1, 1)],
            "valid_to": [None, dt.date(2014, 12, 31), None],
            "trade_name": ["A", "B", "B"],
        }
    )
    res = pseudonymise(history, key=purpose_key, consent=None)
    assert res.frame.columns == [
        "be_id",
        "valid_from",
        "valid_to",
        "pseudonym",
        "key_id",
        "scheme_version",
    ]
    assert res.ledger.counts == {
        "pseudonymised": 3,
        "vestigingsnummer": 0,
        "rsin_or_bsn": 0,
        "btw_id": 0,
        "malformed": 0,
        "missing": 0,
    }
    assert res.ledger.context["consent"] is False


def test_consent_is_a_required_keyword(
    raw_interactions: pl.DataFrame, purpose_key: PurposeKey
) -> None:
    with pytest.raises(TypeError, match="consent"):
        pseudonymise(raw_interactions, key=purpose_key)  # type: ignore[call-arg]


def test_keep_is_exact_and_never_keeps_the_kvk_column(
    raw_interactions: pl.DataFrame, purpose_key: PurposeKey
) -> None:
    res = pseudonymise(
        raw_interactions, key=purpose_key, consent=POLICY, keep=["activity", "company_name"]
    )
    assert res.frame.columns == [
        "activity",
        "company_name",
        "pseudonym",
        "key_id",
        "scheme_version",
    ]
    with pytest.raises(SchemaError, match="raw KVK numbers never leave"):
        pseudonymise(raw_interactions, key=purpose_key, consent=POLICY, keep=["kvk_nummer"])
    with pytest.raises(SchemaError, match="'nope'"):
        pseudonymise(raw_interactions, key=purpose_key, consent=POLICY, keep=["nope"])
    with pytest.raises(InputError, match="sequence of column names"):
        pseudonymise(raw_interactions, key=purpose_key, consent=POLICY, keep="activity")
    clash = raw_interactions.with_columns(pl.lit("x").alias("pseudonym"))
    with pytest.raises(SchemaError, match="adds itself"):
        pseudonymise(clash, key=purpose_key, consent=POLICY, keep=["pseudonym"])


def test_default_allow_list_drops_unknown_columns(purpose_key: PurposeKey) -> None:
    df = pl.DataFrame({"kvk_nummer": ["12345678"], "notes": ["bel terug"], "channel": ["web"]})
    res = pseudonymise(df, key=purpose_key, consent=None)
    assert res.frame.columns == ["channel", "pseudonym", "key_id", "scheme_version"]
    assert res.dropped_columns == ("kvk_nummer", "notes")
    assert not set(DEFAULT_KEEP) & set(IDENTIFYING_COLUMNS)


def test_custom_column_and_date_column(purpose_key: PurposeKey) -> None:
    df = pl.DataFrame({"kvk": ["12345678"], "wanneer": [dt.date(2024, 1, 1)]})
    res = pseudonymise(df, key=purpose_key, consent=None, column="kvk", date_column="wanneer")
    assert res.frame.columns == ["wanneer", "pseudonym", "key_id", "scheme_version"]
    bad = pl.DataFrame({"kvk_nummer": ["12345678"], "date": [1]})
    with pytest.raises(SchemaError, match="Date column 'date'"):
        pseudonymise(bad, key=purpose_key, consent=None)


def test_reason_column_name_does_not_clash(purpose_key: PurposeKey) -> None:
    df = pl.DataFrame({"kvk_nummer": ["12345678", "x"], "reason": ["a", "b"]})
    res = pseudonymise(df, key=purpose_key, consent=None)
    assert res.quarantine.columns == ["kvk_nummer", "reason", "kvklink_reason"]


@pytest.mark.parametrize(
    ("frame", "error", "match"),
    [
        (pl.DataFrame({"other": ["12345678"]}), SchemaError, "lacks required column"),
        (pl.DataFrame({"kvk_nummer": [[1, 2]]}), SchemaError, "cannot hold KVK numbers"),
        (pl.DataFrame({"kvk_nummer": [{"a": 1}]}), SchemaError, "cannot hold KVK numbers"),
        (pl.DataFrame({"kvk_nummer": [True]}), SchemaError, "cannot hold KVK numbers"),
        (pl.DataFrame(schema={"kvk_nummer": pl.String}), SchemaError, "no rows"),
        (pl.DataFrame({"kvk_nummer": ["1234567", None, "abc"]}), IdentifierError, "no usable KVK"),
        (pl.DataFrame({"kvk_nummer": [None, None]}), IdentifierError, "missing=2"),
        ("not a frame", SchemaError, "pandas or polars DataFrame"),
    ],
)  # fmt: skip
def test_bad_input(
    frame: object, error: type[Exception], match: str, purpose_key: PurposeKey
) -> None:
    with pytest.raises(error, match=match):
        pseudonymise(frame, key=purpose_key, consent=None)


def test_bad_arguments(raw_interactions: pl.DataFrame, purpose_key: PurposeKey) -> None:
    with pytest.raises(InputError, match="PurposeKey"):
        pseudonymise(raw_interactions, key="secret", consent=POLICY)  # type: ignore[arg-type]
    with pytest.raises(ConsentError, match="ConsentPolicy or None"):
        pseudonymise(raw_interactions, key=purpose_key, consent="yes")  # type: ignore[arg-type]
    other = ConsentPolicy("nieuwsbrief", "2024-06-30")
    with pytest.raises(ConsentError, match="purpose 'nieuwsbrief'"):
        pseudonymise(raw_interactions, key=purpose_key, consent=other)
    renamed = raw_interactions.rename({"consent": "toestemming"})
    with pytest.raises(ConsentError, match="consent_column='<your column>'"):
        pseudonymise(renamed, key=purpose_key, consent=POLICY)
    ok = ConsentPolicy("evaluatie-2024", "2024-06-30", consent_column="toestemming")
    assert pseudonymise(renamed, key=purpose_key, consent=ok).ledger["pseudonymised"] == 3


def test_repr_of_result(raw_interactions: pl.DataFrame, purpose_key: PurposeKey) -> None:
    res = pseudonymise(raw_interactions, key=purpose_key, consent=POLICY)
    text = repr(res)
    assert text.startswith("PseudonymisationResult(rows=3, quarantined=2, purpose='evaluatie-2024'")
    assert "12345678" not in text
    assert kvklink.PseudonymisationResult is type(res)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

kvk8 = st.text(alphabet="0123456789", min_size=8, max_size=8)
SPELL = (
    lambda k: k,
    lambda k: f"KvK {k[:4]} {k[4:]}",
    lambda k: f"KvK-nr. {k[:2]}.{k[2:4]}.{k[4:6]}.{k[6:]}",
    lambda k: f"{k}.0",
)


@st.composite
def interactions(draw: st.DrawFn) -> tuple[pl.DataFrame, list[str]]:
    """A raw interactions frame with messy, invalid and consent-varying rows."""
    firms = draw(st.lists(kvk8, min_size=1, max_size=12, unique=True))
    n = draw(st.integers(1, 40))
    rows = []
    for i in range(n):
        k = draw(st.sampled_from(firms))
        kind = draw(st.integers(0, 9))
        if kind <= 6:
            raw: str | None = draw(st.sampled_from(SPELL))(k)
        elif kind == 7:
            raw = "0000" + k  # a vestigingsnummer-looking value containing the number
        elif kind == 8:
            raw = k + "9"  # 9 digits
        else:
            raw = draw(st.sampled_from([None, "", "n.v.t.", "abc"]))
        rows.append(
            {
                "interaction_id": f"i{i}",
                "kvk_nummer": raw,
                "company_name": f"Bedrijf {k}",
                "email": f"info@{k}.nl",
                "consent": draw(st.sampled_from([True, True, True, False, None])),
                "consent_purposes": draw(
                    st.sampled_from(["evaluatie-2024", "evaluatie-2024;nieuwsbrief", "x", None])
                ),
                "consent_date": draw(
                    st.sampled_from([dt.date(2024, 1, 1), dt.date(2025, 1, 1), None])
                ),
                "consent_withdrawn_date": draw(
                    st.sampled_from([None, None, None, dt.date(2024, 3, 1)])
                ),
            }
        )
    frame = pl.DataFrame(
        rows,
        schema={
            "interaction_id": pl.String,
            "kvk_nummer": pl.String,
            "company_name": pl.String,
            "email": pl.String,
            "consent": pl.Boolean,
            "consent_purposes": pl.String,
            "consent_date": pl.Date,
            "consent_withdrawn_date": pl.Date,
        },
    )
    return frame, firms


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _all_cells(frame: pl.DataFrame) -> str:
    return (
        "\n".join("|".join("" if v is None else str(v) for v in row) for row in frame.iter_rows())
        + "\n"
        + ",".join(frame.columns)
    )


@settings(max_examples=40, deadline=None)
@given(data=interactions())
def test_ledger_counts_sum_to_input_rows(data: tuple[pl.DataFrame, list[str]]) -> None:
    frame, _ = data
    key = LinkageKey.from_hex(TEST_KEY_HEX).for_purpose("evaluatie-2024")
    try:
        res = pseudonymise(frame, key=key, consent=POLICY)
    except IdentifierError:
        return
    assert res.ledger.reconciles()
    assert sum(res.ledger.counts.values()) == frame.height
    assert res.ledger["pseudonymised"] == len(res.frame)
    quarantined = sum(
        res.ledger[r] for r in kvklink.KVK_REASONS if r not in kvklink.USABLE_KVK_REASONS
    )
    assert quarantined == len(res.quarantine)


@settings(max_examples=40, deadline=None)
@given(data=interactions())
def test_no_raw_kvk_number_leaks_anywhere(data: tuple[pl.DataFrame, list[str]]) -> None:
    frame, firms = data
    master = LinkageKey.from_hex(TEST_KEY_HEX)
    key = master.for_purpose("evaluatie-2024")
    secrets_ = set(firms) | {
        v for v in frame["kvk_nummer"].to_list() if v and any(c.isdigit() for c in v)
    }
    texts: list[str] = []
    handler = _Collect()
    root = logging.getLogger("kvklink")
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for kind in (frame, frame.to_pandas()):
                try:
                    res = pseudonymise(kind, key=key, consent=POLICY)
                except KvklinkError as exc:  # all-invalid draws
                    texts.append(str(exc))
                    texts.append(repr(exc))
                    continue
                out = (
                    res.frame if isinstance(res.frame, pl.DataFrame) else pl.from_pandas(res.frame)
                )
                texts += [
                    _all_cells(out),
                    repr(res),
                    str(res),
                    repr(res.ledger),
                    res.ledger.to_json(),
                    _all_cells(res.ledger.to_frame()),
                    repr(res.dropped_columns),
                ]
            # error paths over the same raw values
            errors: list[Exception] = []
            for call in (
                lambda: pseudonymise(frame, key=key, consent=POLICY, keep=["kvk_nummer"]),
                lambda: pseudonymise(
                    frame.with_columns(pl.col("kvk_nummer").str.replace_all(r"\d", "x")),
                    key=key,
                    consent=POLICY,
                ),
                lambda: pseudonymise(
                    frame.with_columns(pl.col("kvk_nummer").alias("consent")),
                    key=key,
                    consent=POLICY,
                ),
                lambda: pseudonymise(
                    frame.with_columns(pl.col("kvk_nummer").alias("consent_date")),
                    key=key,
                    consent=POLICY,
                ),
                lambda: pseudonymise(frame, key=key, consent=POLICY, keep=["nope"]),
                lambda: key.pseudonymise_kvk(pl.Series([f + "9" for f in firms])),
                lambda: kvklink.normalise_kvk(pl.Series([[f] for f in firms])),
            ):
                with pytest.raises(KvklinkError) as info:
                    call()
                errors.append(info.value)
            texts += [str(e) for e in errors] + [repr(e) for e in errors]
        texts += [str(w.message) for w in caught]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    texts += handler.lines
    texts += [repr(key), str(key), repr(master), repr(POLICY)]
    blob = "\n".join(texts)
    leaked = sorted(s for s in secrets_ if s in blob)
    assert not leaked, f"{len(leaked)} raw value(s) leaked"


def test_pandas_kept_columns_keep_their_dtypes_and_any_index(purpose_key: PurposeKey) -> None:
    df = pd.DataFrame(
        {"kvk_nummer": ["12345678", "x", "87654321"], "channel": ["a", "b", "c"], "n": [1, 2, 3]},
        index=pd.Index([10, 20, 30]),
    )
    res = pseudonymise(df, key=purpose_key, consent=None, keep=["channel", "n"])
    assert res.frame["channel"].tolist() == ["a", "c"]
    assert res.frame["n"].dtype == df["n"].dtype
    assert res.frame.index.equals(pd.RangeIndex(2))
    assert res.frame["pseudonym"].tolist() == [
        independent_pseudonym("12345678"),
        independent_pseudonym("87654321"),
    ]
    assert res.quarantine["channel"].tolist() == ["b"]
    empty_keep = pseudonymise(df, key=purpose_key, consent=None, keep=[])
    assert empty_keep.frame.columns.tolist() == ["pseudonym", "key_id", "scheme_version"]
