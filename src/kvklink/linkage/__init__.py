"""Linkage: exact link on pseudonyms, fuzzy recovery of KVK numbers, linkage report.

Public entry points are re-exported here from private implementation modules.
"""

# --- exact linkage ---
# --- end exact linkage ---

# --- recovery (fuzzy) ---
# --- end recovery (fuzzy) ---

__all__: list[str] = []
