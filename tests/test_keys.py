"""Keys: scheme v1 against independent implementations, loading, refusal, hygiene."""

from __future__ import annotations

import copy
import hashlib
import hmac
import pickle
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from kvklink.errors import InputError, KeyFilePermissionError, KeyMaterialError, SchemaError
from kvklink.keys import LinkageKey, PurposeKey

OPENSSL = shutil.which("openssl")
#: The master key of the ``master_key`` fixture in conftest.py.
TEST_KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def reference_purpose_key(master: bytes, purpose: str) -> bytes:
    """HKDF-SHA256 with cryptography's own implementation, as privacy-model.md writes it."""
    info = b"kvklink/v1/purpose/" + purpose.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def reference_pseudonym(purpose_key: bytes, kvk8: str) -> str:
    return hmac.new(purpose_key, b"kvk:" + kvk8.encode("ascii"), hashlib.sha256).hexdigest()


def reference_key_id(purpose_key: bytes) -> str:
    return hmac.new(purpose_key, b"kvklink/v1/key-id", hashlib.sha256).digest()[:8].hex()


kvk8 = st.text(alphabet="0123456789", min_size=8, max_size=8)
purposes = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "Pd")), min_size=1, max_size=30
)


@settings(max_examples=50, deadline=None)
@given(
    master=st.binary(min_size=32, max_size=32),
    purpose=purposes,
    numbers=st.lists(kvk8, min_size=1, max_size=30),
)
def test_scheme_v1_equals_independent_hmac_and_hkdf(
    master: bytes, purpose: str, numbers: list[str]
) -> None:
    pk = LinkageKey.from_hex(master.hex()).for_purpose(purpose)
    kp = reference_purpose_key(master, purpose)
    assert pk.key_id == reference_key_id(kp)
    got = pk.pseudonymise_kvk(pl.Series(numbers)).to_list()
    assert got == [reference_pseudonym(kp, k) for k in numbers]


def test_large_input_uses_the_kernel_and_still_matches(purpose_key: PurposeKey) -> None:
    numbers = [f"{i:08d}" for i in range(0, 50_000_000, 9973)][:6000]
    kp = reference_purpose_key(bytes.fromhex(TEST_KEY_HEX), "evaluatie-2024")
    got = purpose_key.pseudonymise_kvk(pl.Series(numbers + numbers[:100])).to_list()
    want = [reference_pseudonym(kp, k) for k in numbers + numbers[:100]]
    assert got == want


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_openssl_reproduces_purpose_key_and_pseudonym(purpose_key: PurposeKey) -> None:
    assert OPENSSL is not None
    kdf = subprocess.run(
        [OPENSSL, "kdf", "-keylen", "32", "-kdfopt", "digest:SHA256",
         "-kdfopt", f"hexkey:{TEST_KEY_HEX}",
         "-kdfopt", "info:kvklink/v1/purpose/evaluatie-2024", "HKDF"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    kp_hex = kdf.stdout.strip().replace(":", "").lower()
    assert len(kp_hex) == 64

    def openssl_hmac(message: bytes) -> str:
        out = subprocess.run(
            [OPENSSL, "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{kp_hex}"],
            input=message, capture_output=True, check=True,
        )  # fmt: skip
        return out.stdout.decode().strip().split("= ")[-1].lower()

    numbers = ["12345678", "01234567", "00000000"]
    got = purpose_key.pseudonymise_kvk(pl.Series(numbers)).to_list()
    assert got == [openssl_hmac(b"kvk:" + k.encode()) for k in numbers]
    assert purpose_key.key_id == openssl_hmac(b"kvklink/v1/key-id")[:16]
    vest = purpose_key.pseudonymise_vestiging(pl.Series(["000038509504"])).to_list()
    assert vest == [openssl_hmac(b"vest:000038509504")]


@settings(max_examples=30, deadline=None)
@given(
    k1=st.binary(min_size=32, max_size=32),
    k2=st.binary(min_size=32, max_size=32),
    p1=purposes,
    p2=purposes,
    numbers=st.lists(kvk8, min_size=1, max_size=10, unique=True),
)
def test_deterministic_per_key_and_purpose_and_different_across(
    k1: bytes, k2: bytes, p1: str, p2: str, numbers: list[str]
) -> None:
    s = pl.Series(numbers)
    a = LinkageKey.from_hex(k1.hex())
    b = LinkageKey.from_hex(k2.hex())
    first = a.for_purpose(p1).pseudonymise_kvk(s).to_list()
    assert first == a.for_purpose(p1).pseudonymise_kvk(s).to_list()
    if p1 != p2:
        other = a.for_purpose(p2)
        assert other.key_id != a.for_purpose(p1).key_id
        assert set(first).isdisjoint(other.pseudonymise_kvk(s).to_list())
    if k1 != k2:
        assert set(first).isdisjoint(b.for_purpose(p1).pseudonymise_kvk(s).to_list())


def test_pseudonymise_kvk_nulls_pandas_and_validation(purpose_key: PurposeKey) -> None:
    out = purpose_key.pseudonymise_kvk(pl.Series("k", ["12345678", None, "12345678"]))
    assert out.name == "k"
    assert out[0] == out[2]
    assert out[1] is None
    assert out.str.contains(r"^[0-9a-f]{64}$").sum() == 2
    pd_out = purpose_key.pseudonymise_kvk(pd.Series(["12345678", None]))
    assert isinstance(pd_out, pd.Series)
    assert pd_out.iloc[0] == out[0]
    with pytest.raises(InputError, match="1 of 2 KVK number values are not exactly 8 digits"):
        purpose_key.pseudonymise_kvk(pl.Series(["12345678", "1234567"]))
    with pytest.raises(SchemaError, match="dtype String"):
        purpose_key.pseudonymise_kvk(pl.Series([12345678]))
    with pytest.raises(InputError, match="not exactly 8 digits"):
        purpose_key.pseudonymise_kvk(pl.Series(["١٢٣٤٥٦٧٨"]))
    with pytest.raises(InputError, match="12 digits"):
        purpose_key.pseudonymise_vestiging(pl.Series(["12345678"]))
    with pytest.raises(SchemaError):
        purpose_key.pseudonymise_kvk(["12345678"])  # type: ignore[arg-type]


def test_vestiging_prefix_differs_from_kvk(purpose_key: PurposeKey) -> None:
    kvk = purpose_key.pseudonymise_kvk(pl.Series(["12345678"]))[0]
    vest = purpose_key.pseudonymise_vestiging(pl.Series(["000012345678"]))[0]
    assert kvk != vest


# ---------------------------------------------------------------------------------------------
# Loading and refusal
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("zz" * 32, "not hexadecimal"),
        ("ab" * 16, "16 bytes; scheme v1 needs 32"),
        ("abc", "odd number"),
        ("ab" * 33, "exactly 32 bytes"),
    ],
)
def test_bad_hex_is_refused(text: str, match: str) -> None:
    with pytest.raises(KeyMaterialError, match=match) as info:
        LinkageKey.from_hex(text)
    if text.strip():
        assert text.strip() not in str(info.value)


def test_from_hex_accepts_uppercase_and_newline() -> None:
    a = LinkageKey.from_hex(TEST_KEY_HEX.upper() + "\n")
    assert a == LinkageKey.from_hex(TEST_KEY_HEX)


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KVKLINK_KEY", raising=False)
    with pytest.raises(KeyMaterialError, match="KVKLINK_KEY is not set"):
        LinkageKey.from_env()
    monkeypatch.setenv("KVKLINK_KEY", "")
    with pytest.raises(KeyMaterialError, match="empty"):
        LinkageKey.from_env()
    monkeypatch.setenv("KVKLINK_KEY", "ab" * 8)
    with pytest.raises(KeyMaterialError, match="8 bytes"):
        LinkageKey.from_env()
    monkeypatch.setenv("KVKLINK_KEY", TEST_KEY_HEX)
    assert LinkageKey.from_env() == LinkageKey.from_hex(TEST_KEY_HEX)
    monkeypatch.setenv("OTHER_KEY", TEST_KEY_HEX)
    assert LinkageKey.from_env("OTHER_KEY") == LinkageKey.from_hex(TEST_KEY_HEX)


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "key.hex"
    path.write_text(TEST_KEY_HEX + "\n")
    path.chmod(0o600)
    assert LinkageKey.from_file(path) == LinkageKey.from_hex(TEST_KEY_HEX)
    assert LinkageKey.from_file(str(path)) == LinkageKey.from_hex(TEST_KEY_HEX)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_loose_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "key.hex"
    path.write_text(TEST_KEY_HEX + "\n")
    path.chmod(mode)
    with pytest.raises(KeyFilePermissionError, match=f"chmod 600 {path}") as info:
        LinkageKey.from_file(path)
    assert TEST_KEY_HEX not in str(info.value)
    assert isinstance(info.value, PermissionError)


def test_bad_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="cannot be read"):
        LinkageKey.from_file(tmp_path / "missing.hex")
    with pytest.raises(KeyMaterialError, match="not a regular file"):
        LinkageKey.from_file(tmp_path)
    short = tmp_path / "short.hex"
    short.write_text("abcd\n")
    short.chmod(0o600)
    with pytest.raises(KeyMaterialError, match="2 bytes"):
        LinkageKey.from_file(short)
    empty = tmp_path / "empty.hex"
    empty.write_text("")
    empty.chmod(0o600)
    with pytest.raises(KeyMaterialError, match="empty"):
        LinkageKey.from_file(empty)
    binary = tmp_path / "bin.hex"
    binary.write_bytes(b"\xff\xfe" * 32)
    binary.chmod(0o600)
    with pytest.raises(KeyMaterialError, match="not ASCII"):
        LinkageKey.from_file(binary)


def test_purpose_label_is_checked(master_key: LinkageKey) -> None:
    for bad in ["", " x", "x\n", "a" * 101]:
        with pytest.raises(InputError, match="purpose"):
            master_key.for_purpose(bad)
    with pytest.raises(InputError, match="must be a str"):
        master_key.for_purpose(1)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Hygiene: nothing reveals key bytes
# ---------------------------------------------------------------------------------------------


def test_reprs_reveal_no_key_material(master_key: LinkageKey, purpose_key: PurposeKey) -> None:
    kp_hex = reference_purpose_key(bytes.fromhex(TEST_KEY_HEX), "evaluatie-2024").hex()
    for obj in (master_key, purpose_key):
        for text in (repr(obj), str(obj), f"{obj}", format(obj, "")):
            assert TEST_KEY_HEX not in text.lower()
            assert kp_hex not in text.lower()
    assert repr(purpose_key) == (
        f"PurposeKey(purpose='evaluatie-2024', key_id='{purpose_key.key_id}', scheme_version='v1')"
    )
    assert repr(master_key) == f"LinkageKey(key_id='{master_key.key_id}')"
    assert master_key.key_id != purpose_key.key_id


def test_keys_refuse_pickling_and_copying(master_key: LinkageKey, purpose_key: PurposeKey) -> None:
    for obj in (master_key, purpose_key):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(obj)
        with pytest.raises(TypeError, match="cannot be pickled"):
            copy.deepcopy(obj)
        with pytest.raises(TypeError, match="cannot be pickled"):
            copy.copy(obj)
        assert not hasattr(obj, "__dict__")
        with pytest.raises(AttributeError):
            obj.extra = 1  # type: ignore[attr-defined]
        assert TEST_KEY_HEX not in repr(vars(type(obj)))


def test_purpose_key_cannot_be_constructed_directly() -> None:
    with pytest.raises(TypeError, match="for_purpose"):
        PurposeKey()


def test_generate_and_export(tmp_path: Path) -> None:
    a, b = LinkageKey.generate(), LinkageKey.generate()
    assert a != b
    text = a.export_hex()
    assert len(text) == 64
    assert text == text.lower()
    assert LinkageKey.from_hex(text) == a
    assert a.for_purpose("x") == LinkageKey.from_hex(text).for_purpose("x")
    assert hash(a.for_purpose("x")) == hash(LinkageKey.from_hex(text).for_purpose("x"))
