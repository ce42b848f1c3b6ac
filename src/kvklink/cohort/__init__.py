"""Cohorts: matching treated and control units (MatchIt semantics), balance and effects.

The numpy matching core (``_core``) knows nothing of data frames; :func:`match` is the frame
adapter. Balance, effects and plots live in their own modules and are reached through
:class:`MatchResult` methods.

Examples
--------
>>> from kvklink.cohort import match, MatchResult, Matcher
>>> callable(match) and isinstance(MatchResult, type) and isinstance(Matcher, type)
True
"""

from kvklink.cohort._match import Matcher, MatchMethod, MatchOrder, MatchResult, match
from kvklink.cohort._propensity import PropensityWarning

__all__ = [
    "MatchMethod",
    "MatchOrder",
    "MatchResult",
    "Matcher",
    "PropensityWarning",
    "match",
]
