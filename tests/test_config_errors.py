"""Pipeline config validation: unknown keys, wrong types, missing inputs, inline keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kvklink.errors import ConfigError
from kvklink.pipeline import config_hash, load_config, parse_config
from kvklink.pipeline._config import example_config_text

FILES = (
    "synthetic/interactions.parquet",
    "synthetic/handelsregister.parquet",
    "synthetic/kvk_history.parquet",
    "synthetic/register.parquet",
    "synthetic/effects.parquet",
    "demo-key/DEMO-KEY-not-for-real-data.hex",
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in FILES:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return tmp_path


def _write(folder: Path, text: str, name: str = "run.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_example_is_valid(folder: Path) -> None:
    config = load_config(_write(folder, example_config_text()))
    assert config.purpose == "evaluatie-2024"
    assert config.resolve("synthetic/register.parquet") == folder / "synthetic/register.parquet"
    assert config.output_dir == folder / "run"
    assert config.horizon == config.cohort.horizon_years == 2
    assert config.input_files()["register"].path == "synthetic/register.parquet"
    assert re.fullmatch(r"[0-9a-f]{64}", config_hash(config))


def test_unknown_key_names_its_path(folder: Path) -> None:
    text = example_config_text().replace('method = "nearest"', 'methd = "nearest"')
    with pytest.raises(ConfigError) as info:
        load_config(_write(folder, text))
    message = str(info.value)
    assert "matching.methd: unknown key" in message
    assert "spelling" in message


def test_wrong_type_names_its_path(folder: Path) -> None:
    text = example_config_text().replace("ratio = 1", 'ratio = "two"')
    with pytest.raises(ConfigError, match=r"matching\.ratio: .*\(got str\); give a whole number"):
        load_config(_write(folder, text))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("replace = false", 'replace = "no"', "matching.replace: .*true or false"),
        ("horizon_years = 2", 'horizon_years = "2"', "cohort.horizon_years: .*whole number"),
        ("as_of = 2024-12-31", 'as_of = "31-12-2024"', "as_of: .*TOML date"),
        ("window = [2018-01-01, 2021-12-31]", "window = [2018-01-01]", "cohort.window: too few"),
        ("event_window = [-3, 2]", 'event_window = [-3, "x"]', r"effects\.event_window\[1\]"),
    ],
)
def test_strict_types_with_a_fix(folder: Path, old: str, new: str, expected: str) -> None:
    text = example_config_text().replace(old, new)
    with pytest.raises(ConfigError, match=expected):
        load_config(_write(folder, text))


def test_every_problem_on_its_own_line(folder: Path) -> None:
    text = (
        example_config_text()
        .replace("ratio = 1", "ratio = 0")
        .replace('transform = "log"', 'transform = "sqrt"')
        .replace("[linkage]", "[linkage]\nfoo = 1")
    )
    with pytest.raises(ConfigError) as info:
        load_config(_write(folder, text))
    lines = [ln for ln in str(info.value).splitlines() if ln.startswith("  - ")]
    assert len(lines) == 3
    assert any(ln.startswith("  - matching.ratio:") for ln in lines)
    assert any(ln.startswith("  - effects.transform:") for ln in lines)
    assert any(ln.startswith("  - linkage.foo: unknown key") for ln in lines)


def test_missing_required_section(folder: Path) -> None:
    text = example_config_text().replace("[cohort]", "[cohort_typo]")
    with pytest.raises(ConfigError) as info:
        load_config(_write(folder, text))
    assert "cohort: required key is missing" in str(info.value)
    assert "cohort_typo: unknown key" in str(info.value)


def test_missing_input_file(folder: Path) -> None:
    (folder / "synthetic/register.parquet").unlink()
    with pytest.raises(ConfigError) as info:
        load_config(_write(folder, example_config_text()))
    assert "inputs.register.path" in str(info.value)
    assert "not found" in str(info.value)
    # the check can be skipped (e.g. to inspect a config)
    assert load_config(folder / "run.toml", check_inputs=False).purpose == "evaluatie-2024"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml(folder: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(folder, "purpose = "))


@pytest.mark.parametrize("field", ["hex", "value"])
def test_key_given_inline_is_refused(folder: Path, field: str) -> None:
    secret = "ab" * 32
    text = example_config_text().replace(
        'file = "demo-key/DEMO-KEY-not-for-real-data.hex"', f'{field} = "{secret}"'
    )
    with pytest.raises(ConfigError) as info:
        load_config(_write(folder, text))
    message = str(info.value)
    assert f"key.{field}" in message
    assert "key material" in message
    assert secret not in message


def test_hex_key_anywhere_is_refused(folder: Path) -> None:
    secret = "0123456789abcdef" * 4
    text = example_config_text() + f"\n# KVKLINK_KEY={secret}\n"
    with pytest.raises(ConfigError, match="key material") as info:
        load_config(_write(folder, text))
    assert secret not in str(info.value)


def test_exactly_one_key_source(folder: Path) -> None:
    text = example_config_text().replace(
        'file = "demo-key/DEMO-KEY-not-for-real-data.hex"',
        'file = "demo-key/DEMO-KEY-not-for-real-data.hex"\nenv = "KVKLINK_KEY"',
    )
    with pytest.raises(ConfigError, match="exactly one key source"):
        load_config(_write(folder, text))


def test_cross_field_checks(folder: Path) -> None:
    text = example_config_text().replace('outcome = "turnover"', 'outcome = "profit"')
    with pytest.raises(ConfigError, match=r"effects\.outcome 'profit' is not one of"):
        load_config(_write(folder, text))
    text = example_config_text().replace(
        "window = [2018-01-01, 2021-12-31]", "window = [2021-12-31, 2018-01-01]"
    )
    with pytest.raises(ConfigError, match="window ends before it starts"):
        load_config(_write(folder, text))


def test_column_mapping_and_hash(folder: Path) -> None:
    base = parse_config(example_config_text(), base_dir=folder)
    text = example_config_text().replace(
        'path = "synthetic/register.parquet"',
        'path = "synthetic/register.parquet"\ncolumns = { be_id = "BE_ID" }',
    )
    mapped = parse_config(text, base_dir=folder)
    assert mapped.input_files()["register"].columns == {"be_id": "BE_ID"}
    assert config_hash(mapped) != config_hash(base)
    assert config_hash(base) == config_hash(parse_config(example_config_text(), base_dir=folder))
    # sections hash independently (used for --resume)
    assert config_hash(mapped, sections=("matching",)) == config_hash(base, sections=("matching",))
