"""The `kvklink keygen` and `kvklink pseudonymise` commands."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from kvklink.cli import app
from kvklink.keys import LinkageKey

TEST_KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
QMARK = "QUARANTINE-contains-raw-identifiers"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "master.key"
    path.write_text(TEST_KEY_HEX + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def interactions_csv(tmp_path: Path, raw_interactions: pl.DataFrame) -> Path:
    path = tmp_path / "interactions.csv"
    raw_interactions.write_csv(path)
    return path


def run(runner: CliRunner, *args: str | Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args], env=env or {"KVKLINK_KEY": ""})


def one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# ---------------------------------------------------------------------------------------------
# keygen
# ---------------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_file_and_refuses_to_overwrite(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "new.key"
    result = run(runner, "keygen", path)
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert len(text) == 65
    assert text.endswith("\n")
    assert all(c in "0123456789abcdef" for c in text[:64])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = LinkageKey.from_file(path)
    assert key.key_id in result.stdout
    assert text[:64] not in result.output
    second = run(runner, "keygen", path)
    line = one_line_error(second)
    assert "already exists" in line
    assert path.read_text() == text
    missing_dir = run(runner, "keygen", tmp_path / "nope" / "k.key")
    assert "cannot create" in one_line_error(missing_dir)


# ---------------------------------------------------------------------------------------------
# pseudonymise
# ---------------------------------------------------------------------------------------------


def test_csv_to_parquet_with_ledger_quarantine_and_metadata(
    runner: CliRunner, tmp_path: Path, key_file: Path, interactions_csv: Path
) -> None:
    out = tmp_path / "out" / "pseudo.parquet"
    out.parent.mkdir()
    result = run(
        runner,
        "pseudonymise", interactions_csv, out,
        "--purpose", "evaluatie-2024", "--as-of", "2024-06-30", "--key-file", key_file,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(out)
    pk = LinkageKey.from_hex(TEST_KEY_HEX).for_purpose("evaluatie-2024")
    assert frame.columns == [
        "interaction_id",
        "date",
        "activity",
        "pseudonym",
        "key_id",
        "scheme_version",
    ]
    assert (
        frame["pseudonym"].to_list()
        == pk.pseudonymise_kvk(pl.Series(["12345678", "12345678", "87654321"])).to_list()
    )
    meta = pq.read_metadata(out).metadata
    assert meta[b"kvklink.key_id"].decode() == pk.key_id
    assert meta[b"kvklink.scheme_version"] == b"v1"
    ledger = json.loads((out.parent / "pseudo.parquet.ledger.json").read_text())
    assert ledger["total_input"] == 8
    assert sum(ledger["counts"].values()) == 8
    assert ledger["counts"]["pseudonymised"] == 3
    assert ledger["reconciles"] is True
    qpath = out.parent / f"pseudo.{QMARK}.parquet"
    assert ledger["files"]["quarantine"] == qpath.name
    quarantine = pl.read_parquet(qpath)
    assert quarantine["reason"].to_list() == ["missing", "vestigingsnummer"]
    assert stat.S_IMODE(qpath.stat().st_mode) == 0o600
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        ["pseudo.parquet", "pseudo.parquet.ledger.json", qpath.name]
    )
    assert "Pseudonymised 3 of 8 rows" in result.stdout
    for raw in ("12345678", "87654321", "000038509504"):
        assert raw not in result.output


def test_csv_keeps_leading_zeros_and_env_key(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "hist.csv"
    src.write_text("kvk_nummer,be_id,valid_from\n01234567,1,2020-01-01\n00012345,2,2020-01-01\n")
    out = tmp_path / "hist_p.csv"
    result = run(
        runner, "pseudonymise", src, out, "--purpose", "p", "--register",
        env={"KVKLINK_KEY": TEST_KEY_HEX},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(out)
    pk = LinkageKey.from_hex(TEST_KEY_HEX).for_purpose("p")
    assert (
        frame["pseudonym"].to_list()
        == pk.pseudonymise_kvk(pl.Series(["01234567", "00012345"])).to_list()
    )
    assert frame.columns == ["be_id", "valid_from", "pseudonym", "key_id", "scheme_version"]
    assert (tmp_path / f"hist_p.{QMARK}.csv").exists()


def test_parquet_input_keep_and_custom_columns(
    runner: CliRunner, tmp_path: Path, key_file: Path, raw_interactions: pl.DataFrame
) -> None:
    src = tmp_path / "in.parquet"
    raw_interactions.rename({"kvk_nummer": "kvk", "consent": "ok"}).write_parquet(src)
    out = tmp_path / "out.csv"
    result = run(
        runner, "pseudonymise", src, out, "--purpose", "evaluatie-2024", "--as-of", "2024-06-30",
        "--key-file", key_file, "--column", "kvk", "--consent-column", "ok",
        "--keep", "interaction_id", "--keep", "channel_missing_is_checked",
    )  # fmt: skip
    assert "channel_missing_is_checked" in one_line_error(result)
    result = run(
        runner, "pseudonymise", src, out, "--purpose", "evaluatie-2024", "--as-of", "2024-06-30",
        "--key-file", key_file, "--column", "kvk", "--consent-column", "ok",
        "--keep", "interaction_id",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pl.read_csv(out).columns == ["interaction_id", "pseudonym", "key_id", "scheme_version"]


@pytest.mark.parametrize(
    ("setup", "args", "match"),
    [
        ("none", [], "pass --as-of"),
        ("none", ["--register", "--as-of", "2024-01-01"], "register side"),
        ("none", ["--as-of", "30-06-2024"], "YYYY-MM-DD"),
        ("missing_input", ["--as-of", "2024-06-30"], "does not exist"),
        ("dir_input", ["--as-of", "2024-06-30"], "not a readable file"),
        ("empty_input", ["--as-of", "2024-06-30"], "is empty"),
        ("header_only", ["--as-of", "2024-06-30"], "no rows"),
        ("corrupt_parquet", ["--as-of", "2024-06-30"], "cannot read INPUT"),
        ("txt_input", ["--as-of", "2024-06-30"], "must end in .csv or .parquet"),
        ("missing_column", ["--as-of", "2024-06-30"], "lacks required column"),
        ("list_column", ["--register"], "cannot hold KVK numbers"),
        ("all_invalid", ["--register"], "no usable KVK number"),
        ("none", ["--as-of", "2024-06-30", "--consent-column", "toestemming"], "toestemming"),
        ("no_key", ["--as-of", "2024-06-30"], "no key"),
        ("short_key", ["--as-of", "2024-06-30"], "16 bytes"),
        ("bad_hex_key", ["--as-of", "2024-06-30"], "not hexadecimal"),
        ("loose_key", ["--as-of", "2024-06-30"], "chmod 600"),
        ("missing_key", ["--as-of", "2024-06-30"], "cannot be read"),
    ],
)
def test_input_errors_exit_2_with_one_line(
    runner: CliRunner,
    tmp_path: Path,
    key_file: Path,
    interactions_csv: Path,
    setup: str,
    args: list[str],
    match: str,
) -> None:
    src: Path = interactions_csv
    key_args: list[str | Path] = ["--key-file", key_file]
    env: dict[str, str | None] = {"KVKLINK_KEY": ""}
    if setup == "missing_input":
        src = tmp_path / "nope.csv"
    elif setup == "dir_input":
        src = tmp_path / "adir.csv"
        src.mkdir()
    elif setup == "empty_input":
        src = tmp_path / "empty.csv"
        src.write_text("")
    elif setup == "header_only":
        src = tmp_path / "header.csv"
        src.write_text("kvk_nummer,consent,consent_purposes,consent_date,consent_withdrawn_date\n")
    elif setup == "corrupt_parquet":
        src = tmp_path / "bad.parquet"
        src.write_bytes(b"PAR1 12345678 not really parquet")
    elif setup == "txt_input":
        src = tmp_path / "in.txt"
        src.write_text("x")
    elif setup == "missing_column":
        src = tmp_path / "other.csv"
        src.write_text("id,consent\n1,true\n")
    elif setup == "list_column":
        src = tmp_path / "lists.parquet"
        pl.DataFrame({"kvk_nummer": [["12345678"]], "be_id": [1]}).write_parquet(src)
    elif setup == "all_invalid":
        src = tmp_path / "bad_ids.csv"
        src.write_text("kvk_nummer,be_id\n1234567,1\nabc,2\n")
    elif setup == "no_key":
        key_args = []
        env = {"KVKLINK_KEY": None}  # None unsets the variable
    elif setup in ("short_key", "bad_hex_key"):
        key_args = []
        env = {"KVKLINK_KEY": "ab" * 16 if setup == "short_key" else "zz" * 32}
    elif setup == "loose_key":
        key_file.chmod(0o644)
    elif setup == "missing_key":
        key_args = ["--key-file", tmp_path / "missing.key"]
    out = tmp_path / "out.parquet"
    cli_args = ["pseudonymise", src, out, "--purpose", "evaluatie-2024", *args, *key_args]
    result = runner.invoke(app, [str(a) for a in cli_args], env=env)
    line = one_line_error(result)
    assert match in line, line
    assert "12345678" not in result.output
    assert not out.exists()
    assert not any(p.name.startswith(".out.parquet.tmp") for p in tmp_path.iterdir())


def test_same_input_and_output_is_refused(
    runner: CliRunner, key_file: Path, interactions_csv: Path
) -> None:
    result = run(
        runner, "pseudonymise", interactions_csv, interactions_csv, "--purpose", "p",
        "--as-of", "2024-06-30", "--key-file", key_file,
    )  # fmt: skip
    assert "must differ" in one_line_error(result)


def test_crash_while_writing_leaves_no_partial_output(
    runner: CliRunner,
    tmp_path: Path,
    key_file: Path,
    interactions_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous complete output")

    def boom(self: pl.DataFrame, file: object, **kwargs: object) -> None:
        file.write(b"half")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    result = run(
        runner, "pseudonymise", interactions_csv, out, "--purpose", "evaluatie-2024",
        "--as-of", "2024-06-30", "--key-file", key_file,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert out.read_bytes() == b"previous complete output"
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_progress_display_can_be_forced(
    runner: CliRunner, tmp_path: Path, key_file: Path, interactions_csv: Path
) -> None:
    out = tmp_path / "out.parquet"
    result = run(
        runner, "pseudonymise", interactions_csv, out, "--purpose", "evaluatie-2024",
        "--as-of", "2024-06-30", "--key-file", key_file, "--progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_dates_in_csv_are_parsed(runner: CliRunner, tmp_path: Path, key_file: Path) -> None:
    src = tmp_path / "i.csv"
    pl.DataFrame(
        {
            "kvk_nummer": ["12345678"],
            "date": [dt.date(2024, 2, 1)],
            "consent": [True],
            "consent_purposes": ["p"],
            "consent_date": [dt.date(2024, 1, 1)],
            "consent_withdrawn_date": [None],
        },
        schema_overrides={"consent_withdrawn_date": pl.Date},
    ).write_csv(src)
    out = tmp_path / "o.parquet"
    result = run(
        runner, "pseudonymise", src, out, "--purpose", "p", "--as-of", "2024-06-30",
        "--key-file", key_file,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).schema["date"] == pl.Date


def test_numeric_ids_pads_spreadsheet_exports(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "sheet.csv"
    src.write_text("kvk_nummer,be_id\n1234567,1\n12345678,2\n")
    pk = LinkageKey.from_hex(TEST_KEY_HEX).for_purpose("p")
    env = {"KVKLINK_KEY": TEST_KEY_HEX}
    as_text = tmp_path / "text.parquet"
    result = run(runner, "pseudonymise", src, as_text, "--purpose", "p", "--register", env=env)
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(as_text)["be_id"].to_list() == [2]
    as_numbers = tmp_path / "numbers.parquet"
    result = run(
        runner, "pseudonymise", src, as_numbers, "--purpose", "p", "--register", "--numeric-ids",
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pl.read_parquet(as_numbers)
    want = pk.pseudonymise_kvk(pl.Series(["01234567", "12345678"])).to_list()
    assert frame["pseudonym"].to_list() == want
    ledger = json.loads((tmp_path / "numbers.parquet.ledger.json").read_text())
    assert ledger["flags"] == {"padded_numeric": 1}
