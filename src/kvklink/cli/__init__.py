"""The ``kvklink`` command line: a thin layer over the public functions.

Each sub-command lives in its own module and registers itself on :data:`app` when imported.
Logging is configured here, never in the library.
"""

from __future__ import annotations

from kvklink.cli._app import app

# Sub-command modules (each registers on ``app`` at import). One line per module.
# --- intake ---
from kvklink.cli._keygen import keygen  # noqa: F401
from kvklink.cli._pseudonymise import pseudonymise_command  # noqa: F401

# --- synth ---
from kvklink.cli._synth import synth_command  # noqa: F401

# --- linkage ---
# isort: split
from kvklink.cli._link import link_command  # noqa: F401
from kvklink.cli._recover import recover_command  # noqa: F401

# --- cohorts ---
# --- pipeline ---
# isort: split
from kvklink.cli._cohort import cohort_command, match_command  # noqa: F401
from kvklink.cli._run import run_command  # noqa: F401

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``kvklink`` console script."""
    app()
