"""Batch pipeline: one TOML config → pseudonymise → link → cohort → match → effects → report.

:func:`run_pipeline` runs the stages of a :class:`PipelineConfig` (read with
:func:`load_config`) into a run directory with a ``manifest.json``; :func:`prepare_demo` writes
synthetic inputs, a DEMO key and the shipped example config. The ``kvklink run``, ``kvklink
cohort`` and ``kvklink match`` commands are thin layers over these functions.
"""

from kvklink.pipeline._config import PipelineConfig, config_hash, load_config, parse_config
from kvklink.pipeline._run import (
    STAGE_NAMES,
    RunResult,
    StageFailedError,
    prepare_demo,
    run_pipeline,
)

__all__ = [
    "STAGE_NAMES",
    "PipelineConfig",
    "RunResult",
    "StageFailedError",
    "config_hash",
    "load_config",
    "parse_config",
    "prepare_demo",
    "run_pipeline",
]
