"""Linkage: exact link on pseudonyms, fuzzy recovery of KVK numbers, linkage report.

Public entry points are re-exported here from private implementation modules.
"""

# --- exact linkage ---
from kvklink.linkage._exact import HISTORY_COLUMNS, LINK_STATUSES, LinkResult, link

# --- end exact linkage ---

# --- recovery (fuzzy) ---
# --- end recovery (fuzzy) ---

__all__ = [
    # exact linkage
    "HISTORY_COLUMNS",
    "LINK_STATUSES",
    "LinkResult",
    "link",
    # recovery (fuzzy)
]
