"""kvklink: privacy-preserving record linkage and impact evaluation for KVK services.

Public API, re-exported from private modules. Stages: intake and pseudonymisation →
linkage → cohorts and matching → balance and effects → disclosure-controlled outputs.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from kvklink import errors

# --- intake (identifiers, keys, consent, pseudonymise) ---
# --- synth ---
# --- linkage ---
from kvklink.linkage import LinkResult, link

# --- disclosure ---
# --- cohorts (matching, balance, effects) ---

try:
    __version__ = _version("kvklink")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "LinkResult",  # linkage
    "__version__",
    "errors",
    "link",  # linkage
]
