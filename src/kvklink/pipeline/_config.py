"""The pipeline configuration: one TOML file describes a whole evaluation.

The file is validated up front with pydantic (unknown keys are errors) and every problem is
reported on its own line, naming the field path and the fix. Key material is never accepted in
the file: the key is read from an environment variable (``key.env``) or a key file
(``key.file``) when the ``pseudonymise`` stage runs. Relative paths resolve against the folder
of the config file.

Examples
--------
>>> from kvklink.pipeline import load_config
>>> from kvklink.pipeline._config import example_config_text
>>> import pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "demo.toml"
...     _ = path.write_text(example_config_text(), encoding="utf-8")
...     config = load_config(path, check_inputs=False)
>>> config.purpose, config.cohort.horizon_years
('evaluatie-2024', 2)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from kvklink.errors import ConfigError

__all__ = [
    "CohortFile",
    "CohortInputs",
    "CohortSection",
    "DisclosureSection",
    "EffectsSection",
    "InputFile",
    "InputsSection",
    "InteractionsInput",
    "KeySection",
    "LinkageSection",
    "MatchFile",
    "MatchInputs",
    "MatchingSection",
    "OutputsSection",
    "PipelineConfig",
    "RecoverySection",
    "ReportSection",
    "ValidationSection",
    "config_hash",
    "example_config_text",
    "load_config",
    "load_spec_file",
    "parse_config",
]

#: Default columns of the interactions kept in the pseudonymised output (an allow-list).
DEFAULT_KEEP = ("interaction_id", "date", "activity", "statutory_task", "channel")

_HEX64 = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
_KEY_MATERIAL_FIELDS = ("hex", "value", "key", "secret", "master", "master_key")


class _Section(BaseModel):
    # strict: "2" is not an int and "no" is not a bool (TOML has real numbers and booleans)
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True)


class InputFile(_Section):
    """An input table: its path and, optionally, its column names.

    ``columns`` maps kvklink's column name to the name in the file, e.g.
    ``columns = { kvk_nummer = "KVK_NR" }``; only differing names need to be given.
    """

    path: str = Field(min_length=1)
    columns: dict[str, str] = Field(default_factory=dict)
    format: Literal["auto", "parquet", "csv"] = "auto"


class InteractionsInput(InputFile):
    """The service interactions (data-holder side)."""

    keep: list[str] = Field(default_factory=lambda: list(DEFAULT_KEEP))


class InputsSection(_Section):
    """All input tables. ``handelsregister`` is only needed for recovery."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, populate_by_name=True, strict=True
    )

    interactions: InteractionsInput
    register_: InputFile = Field(alias="register")
    kvk_history: InputFile
    handelsregister: InputFile | None = None


class KeySection(_Section):
    """Where the master key comes from: exactly one of ``env`` or ``file``."""

    env: str | None = Field(default=None, min_length=1)
    file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> KeySection:
        if (self.env is None) == (self.file is None):
            msg = (
                'give exactly one key source: env = "KVKLINK_KEY" (an environment variable) '
                'or file = "path/to/key.hex"'
            )
            raise ValueError(msg)
        return self


class RecoverySection(_Section):
    """Fuzzy recovery of missing KVK numbers against the Handelsregister (data holder)."""

    enabled: bool = False
    accept: float = Field(default=0.75, gt=0.0, le=1.0)
    review: float = Field(default=0.15, ge=0.0, le=1.0)
    min_margin: float = Field(default=1.0, ge=0.0)
    use_review: bool = False
    seed: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> RecoverySection:
        if self.review > self.accept:
            msg = "review must be <= accept (thresholds on the match probability)"
            raise ValueError(msg)
        return self


class LinkageSection(_Section):
    """Settings of :func:`kvklink.link` and the linkage report."""

    on_overlap: Literal["raise", "ambiguous"] = "raise"
    history_check: Literal["relevant", "all"] = "relevant"
    report_by: list[str] | None = None


class CohortSection(_Section):
    """The :class:`kvklink.CohortSpec` (same names and meanings)."""

    window: tuple[dt.date, dt.date] = Field(strict=False)
    activities: list[str] | None = None
    statutory_task: list[str] | None = None
    controls: Literal["never_treated", "not_yet_treated"] = "never_treated"
    horizon_years: int = Field(default=3, ge=0)
    pre_years: int = Field(default=3, ge=1)
    size_bands: list[str] | None = None
    legal_forms: list[str] | None = None
    sections: list[str] | None = None
    regions: list[str] | None = None
    outcomes: list[str] = Field(default_factory=lambda: ["employees", "turnover"], min_length=1)

    @model_validator(mode="after")
    def _window(self) -> CohortSection:
        if self.window[1] < self.window[0]:
            msg = "window ends before it starts: give [start, end]"
            raise ValueError(msg)
        return self


class MatchingSection(_Section):
    """Arguments of :func:`kvklink.match` (same names and meanings)."""

    method: Literal["nearest", "cem", "exact"] = "nearest"
    distance: str = "glm"
    covariates: list[str] | None = None
    exact: list[str] | None = None
    ratio: int = Field(default=1, ge=1)
    replace: bool = False
    caliper: float | None = Field(default=None, gt=0.0)
    order: Literal["largest", "smallest", "random", "data"] | None = None
    random_state: int = 0


class EffectsSection(_Section):
    """The outcome and the estimators.

    The ATT is estimated on the change of ``transform(outcome)`` from event time -1 to
    ``horizon`` (default: the cohort's ``horizon_years``).
    """

    outcome: str = "turnover"
    transform: Literal["log", "log1p", "none"] = "log"
    horizon: int | None = Field(default=None, ge=0)
    event_window: tuple[int, int] | None = Field(default=None, strict=False)
    event_trend: Literal["none", "linear"] = "none"
    group_time: bool = False
    group_time_control: Literal["never", "notyet"] = "never"
    level: float = Field(default=0.95, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _window(self) -> EffectsSection:
        if self.event_window is not None and self.event_window[0] > min(self.event_window[1], -1):
            msg = "event_window must be [first, last] with first <= -1 <= ... (e.g. [-3, 2])"
            raise ValueError(msg)
        return self


class DisclosureSection(_Section):
    """Parameters of :class:`kvklink.DisclosurePolicy` for every table in the report."""

    min_units: int = Field(default=10, ge=1)
    dominance_n: int = Field(default=2, ge=1)
    dominance_k: float = Field(default=0.85, gt=0.0, le=1.0)
    p_percent: float = Field(default=80.0, ge=0.0)
    protect_zeros: bool = False
    marker: str = Field(default="✱", min_length=1)


_FORMATS: tuple[Literal["html", "markdown"], ...] = ("html", "markdown")


class ReportSection(_Section):
    """The run report."""

    title: str = "kvklink evaluation report"
    formats: list[Literal["html", "markdown"]] = Field(
        default_factory=lambda: list(_FORMATS), min_length=1
    )


class ValidationSection(_Section):
    """Known truth for synthetic data (``kvklink.synth``'s ``effects`` table), optional."""

    planted_effects: str | None = None


class OutputsSection(_Section):
    """Where the run writes (``directory``, created if needed)."""

    directory: str = Field(default="kvklink-run", min_length=1)


class PipelineConfig(_Section):
    """A whole evaluation: inputs, purpose, key source, stage settings and outputs.

    Build it with :func:`load_config`; relative paths resolve against :attr:`base_dir`.
    """

    version: Literal[1] = 1
    purpose: str = Field(min_length=1)
    as_of: dt.date
    inputs: InputsSection
    key: KeySection
    recovery: RecoverySection = Field(default_factory=RecoverySection)
    linkage: LinkageSection = Field(default_factory=LinkageSection)
    cohort: CohortSection
    matching: MatchingSection = Field(default_factory=MatchingSection)
    effects: EffectsSection = Field(default_factory=EffectsSection)
    disclosure: DisclosureSection = Field(default_factory=DisclosureSection)
    report: ReportSection = Field(default_factory=ReportSection)
    validation: ValidationSection = Field(default_factory=ValidationSection)
    outputs: OutputsSection = Field(default_factory=OutputsSection)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str = PrivateAttr(default="<memory>")

    @model_validator(mode="after")
    def _consistent(self) -> PipelineConfig:
        if self.effects.outcome not in self.cohort.outcomes:
            msg = (
                f"effects.outcome {self.effects.outcome!r} is not one of cohort.outcomes "
                f"{self.cohort.outcomes!r}: add it there"
            )
            raise ValueError(msg)
        if self.recovery.enabled and self.inputs.handelsregister is None:
            msg = "recovery.enabled needs [inputs.handelsregister] (path of the public register)"
            raise ValueError(msg)
        return self

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths resolve against (the config file's folder)."""
        return self._base_dir

    @property
    def source(self) -> str:
        """Where the config came from (file name) — for messages and the manifest."""
        return self._source

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """``path`` resolved against :attr:`base_dir` (absolute paths unchanged)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self._base_dir / p

    @property
    def output_dir(self) -> Path:
        """The run directory."""
        return self.resolve(self.outputs.directory)

    @property
    def horizon(self) -> int:
        """Event time of the ATT outcome change (``effects.horizon`` or the cohort's)."""
        h = self.effects.horizon
        return self.cohort.horizon_years if h is None else h

    def input_files(self) -> dict[str, InputFile]:
        """The configured input tables by name (``handelsregister`` only when given)."""
        files: dict[str, InputFile] = {
            "interactions": self.inputs.interactions,
            "register": self.inputs.register_,
            "kvk_history": self.inputs.kvk_history,
        }
        if self.inputs.handelsregister is not None:
            files["handelsregister"] = self.inputs.handelsregister
        return files

    def canonical(self) -> dict[str, Any]:
        """The configuration as plain JSON data (defaults filled in, paths as written)."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data


def config_hash(config: PipelineConfig, *, sections: tuple[str, ...] | None = None) -> str:
    """sha256 of the canonical JSON of the config (or of some top-level ``sections``)."""
    data = config.canonical()
    if sections is not None:
        data = {name: data.get(name) for name in sections}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(str(item))
    return "".join(parts) or "(top level)"


_FIXES = {
    "extra_forbidden": "remove it or check its spelling (unknown keys are errors)",
    "missing": "add it",
}


_TYPE_HINTS = {
    "int": "give a whole number without quotes, e.g. 3",
    "float": "give a number without quotes, e.g. 0.75",
    "bool": "give true or false (no quotes)",
    "date": "give a TOML date without quotes, e.g. 2024-12-31",
    "string": 'give a quoted string, e.g. "text"',
    "list": 'give a list, e.g. ["a", "b"]',
    "tuple": "give a list of two items, e.g. [2018-01-01, 2021-12-31]",
    "dict": 'give a table, e.g. { kvk_nummer = "KVK_NR" }',
}


def _describe(error: Any) -> str:
    loc = tuple(x for x in error["loc"] if not str(x).startswith("function-after"))
    kind = str(error["type"])
    if kind == "missing" and loc and isinstance(loc[-1], int):
        return f"{_field_path(loc[:-1])}: too few items; {_TYPE_HINTS['tuple']}"
    where = _field_path(loc)
    if kind in _FIXES:
        what = "unknown key" if kind == "extra_forbidden" else "required key is missing"
        return f"{where}: {what}; {_FIXES[kind]}"
    message = str(error["msg"]).removeprefix("Value error, ")
    base = kind.split("_", 1)[0]
    if kind.endswith(("_type", "_parsing")) and base in _TYPE_HINTS:
        got = type(error.get("input")).__name__
        message = f"{message} (got {got}); {_TYPE_HINTS[base]}"
    return f"{where}: {message}"


def _check_key_material(raw: Any, text: str, source: str) -> None:
    """Refuse a config holding key material (a 64-hex string anywhere, or key.hex/value)."""
    problems = []
    key = raw.get("key") if isinstance(raw, dict) else None
    if isinstance(key, dict):
        problems += [f"key.{name}" for name in _KEY_MATERIAL_FIELDS if name in key]
    if _HEX64.search(text):
        problems.append("a 64-character hex string (looks like a key)")
    if problems:
        msg = (
            f"The config {source} contains key material ({'; '.join(problems)}). A key never "
            "goes into a config file (it ends up in version control and backups). Hint: remove "
            'it, rotate that key, and name its source instead: key.env = "KVKLINK_KEY" or '
            'key.file = "path/to/key.hex" (mode 0600).'
        )
        raise ConfigError(msg)


def _validated_toml(model: type[Any], text: str, source: str, *, what: str, hint: str) -> Any:
    """``text`` parsed as TOML and validated as ``model``: one clear error per problem.

    Refuses key material written into the file before validating (the message never echoes
    it); ``what`` names the file kind in messages ("config", "spec").
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"The {what} {source} is not valid TOML: {exc}. Hint: check quoting and brackets."
        raise ConfigError(msg) from None
    _check_key_material(raw, text, source)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        msg = (
            f"The {what} {source} has {len(lines)} problem(s):\n  - "
            + "\n  - ".join(lines)
            + f"\nHint: {hint}."
        )
        raise ConfigError(msg) from None


def parse_config(
    text: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    source: str = "<text>",
    check_inputs: bool = True,
) -> PipelineConfig:
    """Validate TOML ``text`` as a :class:`PipelineConfig` (see :func:`load_config`)."""
    config: PipelineConfig = _validated_toml(
        PipelineConfig, text, source, what="config",
        hint="see docs/config.md for every key and its meaning",
    )
    config._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    config._source = source
    if check_inputs:
        check_input_files(config)
    return config


def check_input_files(config: PipelineConfig) -> None:
    """Raise :class:`~kvklink.errors.ConfigError` naming every configured input that is missing."""
    missing = []
    for name, spec in config.input_files().items():
        if not config.resolve(spec.path).is_file():
            missing.append(f"inputs.{name}.path: file {spec.path!r} not found")
    if config.key.file is not None and not config.resolve(config.key.file).is_file():
        missing.append(f"key.file: file {config.key.file!r} not found")
    planted = config.validation.planted_effects
    if planted is not None and not config.resolve(planted).is_file():
        missing.append(f"validation.planted_effects: file {planted!r} not found")
    if missing:
        msg = (
            f"The config {config.source} names {len(missing)} missing file(s):\n  - "
            + "\n  - ".join(missing)
            + f"\nHint: relative paths resolve against {config.base_dir}."
        )
        raise ConfigError(msg)


def load_config(path: str | os.PathLike[str], *, check_inputs: bool = True) -> PipelineConfig:
    """Read and validate a pipeline config file.

    Parameters
    ----------
    path
        The TOML file. Relative paths inside it resolve against its folder.
    check_inputs
        Also check that every input file (and the key file, if any) exists.

    Raises
    ------
    ConfigError
        One line per problem, naming the field path and the fix; also when the file contains
        key material.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "bad.toml"
    ...     text = example_config_text().replace("ratio = 1", "ratio = 0")
    ...     _ = path.write_text(text, encoding="utf-8")
    ...     load_config(path, check_inputs=False)
    Traceback (most recent call last):
    ...
    kvklink.errors.ConfigError: The config 'bad.toml' has 1 problem(s):
      - matching.ratio: Input should be greater than or equal to 1
    Hint: see docs/config.md for every key and its meaning.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"Config file {str(p)!r} not found. Hint: check the path."
        raise ConfigError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"Config file {str(p)!r} cannot be read ({type(exc).__name__}). Hint: check it."
        raise ConfigError(msg) from None
    return parse_config(
        text, base_dir=p.resolve().parent, source=repr(p.name), check_inputs=check_inputs
    )


def example_config_text(name: str = "demo.toml") -> str:
    """The text of a shipped example config (``kvklink/examples/<name>``)."""
    return resources.files("kvklink.examples").joinpath(name).read_text(encoding="utf-8")


# ------------------------------------------------------------------ spec files of single stages


class CohortInputs(_Section):
    """Inputs of ``kvklink cohort``: linked interactions and the BE-year register."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, populate_by_name=True, strict=True
    )

    linked: InputFile
    register_: InputFile = Field(alias="register")


class CohortFile(_Section):
    """A ``kvklink cohort`` spec file: ``[inputs]``, ``[cohort]`` and ``[outputs]``."""

    inputs: CohortInputs
    cohort: CohortSection
    outputs: OutputsSection = Field(default_factory=OutputsSection)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    def resolve(self, path: str) -> Path:
        """``path`` resolved against the spec file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self._base_dir / p


class MatchInputs(_Section):
    """Inputs of ``kvklink match``: cohort units and (optionally) the outcome panel."""

    units: InputFile
    panel: InputFile | None = None


class MatchFile(_Section):
    """A ``kvklink match`` spec file: ``[inputs]``, ``[matching]``, ``[cohort]``, ``[effects]``.

    Covariates are ``matching.covariates``, or those of ``[cohort]`` when it is given. With
    ``inputs.panel`` the outcome change of ``[effects]`` is added and units without it are
    left out (as in the pipeline).
    """

    inputs: MatchInputs
    matching: MatchingSection = Field(default_factory=MatchingSection)
    cohort: CohortSection | None = None
    effects: EffectsSection = Field(default_factory=EffectsSection)
    outputs: OutputsSection = Field(default_factory=OutputsSection)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _covariates(self) -> MatchFile:
        if self.matching.covariates is None and self.cohort is None:
            msg = "give matching.covariates, or a [cohort] section whose covariates are used"
            raise ValueError(msg)
        return self

    def resolve(self, path: str) -> Path:
        """``path`` resolved against the spec file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self._base_dir / p


def load_spec_file(path: str | os.PathLike[str], model: type[Any]) -> Any:
    """Read and validate a ``kvklink cohort`` / ``kvklink match`` spec file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError:
        msg = f"Spec file {str(p)!r} cannot be read. Hint: check the path."
        raise ConfigError(msg) from None
    source = repr(p.name)
    spec = _validated_toml(
        model, text, source, what="spec",
        hint="see docs/config.md (the sections are those of the pipeline config)",
    )
    spec._base_dir = p.resolve().parent
    missing = [
        f"inputs.{name.rstrip('_')}.path: file {f.path!r} not found"
        for name, f in spec.inputs
        if isinstance(f, InputFile) and not spec.resolve(f.path).is_file()
    ]
    if missing:
        msg = (
            f"The spec {source} names {len(missing)} missing file(s):\n  - "
            + "\n  - ".join(missing)
            + "\nHint: relative paths resolve against its folder."
        )
        raise ConfigError(msg)
    return spec
