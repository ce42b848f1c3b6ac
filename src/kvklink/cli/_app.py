"""The typer application every ``kvklink`` sub-command registers itself on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="kvklink",
    help="Privacy-preserving record linkage and impact evaluation for KVK services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Exit codes, documented in docs/cli.md.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
