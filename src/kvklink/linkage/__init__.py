"""Linkage: exact link on pseudonyms, fuzzy recovery of KVK numbers, linkage report.

Public entry points are re-exported here from private implementation modules.
"""

# --- exact linkage ---
from kvklink.linkage._exact import HISTORY_COLUMNS, LINK_STATUSES, LinkResult, link
from kvklink.linkage._report import (
    DEFAULT_DIMENSIONS,
    LINKAGE_CATEGORIES,
    LinkageReport,
    linkage_report,
)

# --- end exact linkage ---

# --- recovery (fuzzy) ---
# isort: split
from kvklink.linkage._blocking import BlockingPass
from kvklink.linkage._compare import FieldComparison
from kvklink.linkage._fellegi_sunter import FellegiSunterModel
from kvklink.linkage._prepared_io import load_prepared_reference, save_prepared_reference
from kvklink.linkage._quality import QualityReport, recovery_quality, threshold_curve
from kvklink.linkage._recover import (
    RECOVERY_STATUSES,
    PreparedReference,
    RecoveryResult,
    RecoverySpec,
    company_spec,
    person_spec,
    prepare_reference,
    recover_kvk,
)
from kvklink.linkage._review import export_review, import_review

# --- end recovery (fuzzy) ---

__all__ = [
    "DEFAULT_DIMENSIONS",  # exact linkage (report)
    "HISTORY_COLUMNS",  # exact linkage
    "LINKAGE_CATEGORIES",  # exact linkage (report)
    "LINK_STATUSES",  # exact linkage
    "RECOVERY_STATUSES",  # recovery (fuzzy)
    "BlockingPass",  # recovery (fuzzy)
    "FellegiSunterModel",  # recovery (fuzzy)
    "FieldComparison",  # recovery (fuzzy)
    "LinkResult",  # exact linkage
    "LinkageReport",  # exact linkage (report)
    "PreparedReference",  # recovery (fuzzy)
    "QualityReport",  # recovery (fuzzy)
    "RecoveryResult",  # recovery (fuzzy)
    "RecoverySpec",  # recovery (fuzzy)
    "company_spec",  # recovery (fuzzy)
    "export_review",  # recovery (fuzzy)
    "import_review",  # recovery (fuzzy)
    "link",  # exact linkage
    "linkage_report",  # exact linkage (report)
    "load_prepared_reference",  # recovery (fuzzy)
    "person_spec",  # recovery (fuzzy)
    "prepare_reference",  # recovery (fuzzy)
    "recover_kvk",  # recovery (fuzzy)
    "recovery_quality",  # recovery (fuzzy)
    "save_prepared_reference",  # recovery (fuzzy)
    "threshold_curve",  # recovery (fuzzy)
]
