"""kvklink: privacy-preserving record linkage and impact evaluation for KVK services.

Public API, re-exported from private modules. Stages: intake and pseudonymisation →
linkage → cohorts and matching → balance and effects → disclosure-controlled outputs.
"""

# Imports are grouped by workflow stage, not alphabetically.
# ruff: noqa: I001

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from kvklink import errors

# --- intake (identifiers, keys, consent, pseudonymise) ---
from kvklink.consent import ConsentPolicy
from kvklink.identifiers import (
    KVK_REASONS,
    USABLE_KVK_REASONS,
    is_valid_rsin,
    is_valid_vestigingsnummer,
    kvk_number_expr,
    normalise_kvk,
)
from kvklink.keys import LinkageKey, PurposeKey
from kvklink.ledger import RowLedger

# --- synth ---
from kvklink import synth

# --- linkage ---
from kvklink.linkage import (  # fuzzy recovery
    LinkageReport,
    LinkResult,
    RecoveryResult,
    RecoverySpec,
    company_spec,
    export_review,
    import_review,
    link,
    linkage_report,
    person_spec,
    recover_kvk,
    recovery_quality,
    threshold_curve,
)
from kvklink.pseudonymise import PseudonymisationResult, pseudonymise

# --- disclosure ---
from kvklink.disclosure import DisclosurePolicy, ProtectedTable, protect_table

# --- cohorts (matching, balance, effects) ---
from kvklink.cohort import Matcher, MatchResult, match
from kvklink.cohort._balance import BalanceTable, balance_table  # balance and effects
from kvklink.cohort._effects import EffectEstimate, estimate_att
from kvklink.cohort._panel import EventStudyResult, GroupTimeResult, event_study, group_time_att
from kvklink.cohort._spec import Cohort, CohortSpec, build_cohort

# --- pipeline ---
from kvklink.pipeline import PipelineConfig, RunResult, load_config, prepare_demo, run_pipeline

try:
    __version__ = _version("kvklink")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "KVK_REASONS",  # intake
    "USABLE_KVK_REASONS",  # intake
    "BalanceTable",  # cohorts (balance and effects)
    "Cohort",  # cohorts
    "CohortSpec",  # cohorts
    "ConsentPolicy",  # intake
    "DisclosurePolicy",  # disclosure
    "EffectEstimate",  # cohorts (balance and effects)
    "EventStudyResult",  # cohorts (balance and effects)
    "GroupTimeResult",  # cohorts (balance and effects)
    "LinkResult",  # linkage
    "LinkageKey",  # intake
    "LinkageReport",  # linkage
    "MatchResult",  # cohorts
    "Matcher",  # cohorts
    "PipelineConfig",  # pipeline
    "ProtectedTable",  # disclosure
    "PseudonymisationResult",  # intake
    "PurposeKey",  # intake
    "RecoveryResult",  # linkage (fuzzy recovery)
    "RecoverySpec",  # linkage (fuzzy recovery)
    "RowLedger",  # intake
    "RunResult",  # pipeline
    "__version__",
    "balance_table",  # cohorts (balance and effects)
    "build_cohort",  # cohorts
    "company_spec",  # linkage (fuzzy recovery)
    "errors",
    "estimate_att",  # cohorts (balance and effects)
    "event_study",  # cohorts (balance and effects)
    "export_review",  # linkage (fuzzy recovery)
    "group_time_att",  # cohorts (balance and effects)
    "import_review",  # linkage (fuzzy recovery)
    "is_valid_rsin",  # intake
    "is_valid_vestigingsnummer",  # intake
    "kvk_number_expr",  # intake
    "link",  # linkage
    "linkage_report",  # linkage
    "load_config",  # pipeline
    "match",  # cohorts
    "normalise_kvk",  # intake
    "person_spec",  # linkage (fuzzy recovery)
    "prepare_demo",  # pipeline
    "protect_table",  # disclosure
    "pseudonymise",  # intake
    "recover_kvk",  # linkage (fuzzy recovery)
    "recovery_quality",  # linkage (fuzzy recovery)
    "run_pipeline",  # pipeline
    "synth",  # synth
    "threshold_curve",  # linkage (fuzzy recovery)
]
