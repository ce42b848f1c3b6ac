"""``kvklink keygen PATH``: write a new master key file (mode 0600, never overwrites)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from kvklink.cli._app import EXIT_USAGE, app
from kvklink.keys import LinkageKey


def _fail(message: str) -> typer.Exit:
    typer.echo(f"kvklink keygen: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def write_key_file(path: Path, key: LinkageKey) -> None:
    """Create ``path`` holding ``key`` as 64 hex characters and a newline, mode 0600.

    The file is created with ``O_CREAT | O_EXCL`` and mode 0600 in one system call, so it is
    never readable by others, not even briefly, and an existing file is never overwritten
    (:class:`FileExistsError`).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # a permissive umask cannot loosen it; a strict one may not
        data = (key.export_hex() + "\n").encode("ascii")
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


@app.command("keygen")
def keygen(
    path: Path = typer.Argument(  # noqa: B008 - typer's declaration style
        ..., help="Where to write the new key file (must not exist yet)."
    ),
) -> None:
    """Write a new random master key to PATH (64 hex characters, file mode 0600).

    Refuses to overwrite an existing file. Keep the file with the key custodian; point
    kvklink at it with --key-file or KVKLINK_KEY="$(cat PATH)".
    """
    key = LinkageKey.generate()
    try:
        write_key_file(path, key)
    except FileExistsError:
        msg = (
            f"{str(path)!r} already exists; refusing to overwrite a key file. "
            "Hint: choose a new path."
        )
        raise _fail(msg) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        msg = f"cannot create {str(path)!r} ({reason}). Hint: check the directory."
        raise _fail(msg) from None
    typer.echo(f"Wrote a new master key to {path} (mode 600, key id {key.key_id}).")
