"""Field comparisons: vectorised string similarities turned into comparison levels.

A :class:`FieldComparison` names a field on both sides, how to standardise it, which
similarity to use and the thresholds that cut the similarity into levels. Levels are small
integers used by the Fellegi–Sunter model::

    0            null      (either side missing: the field does not contribute)
    1            else      (similarity below the lowest threshold)
    2 .. k+1     >= t_k .. >= t_1  (thresholds in ascending order)
    k+2          exact     (standardised values equal)

Recovery computes levels with :func:`pair_levels`, over value dictionaries and the compiled
kernels of :mod:`kvklink.linkage._strings` (rapidfuzz's definitions). :func:`comparison_levels`
and :func:`similarity_scores` compute the same with rapidfuzz itself
(:func:`rapidfuzz.process.cpdist`): the reference the kernels are tested against.

Examples
--------
>>> import polars as pl
>>> from kvklink.linkage._compare import FieldComparison, comparison_levels
>>> fc = FieldComparison("name", "company_name", "trade_name")
>>> fc.level_labels
('null', 'else', '>=0.8', '>=0.92', 'exact')
>>> comparison_levels(
...     pl.Series(["jansen", "jansen", None, "jansen"]),
...     pl.Series(["jansen", "janssen", "x", "pietersen"]), fc).tolist()
[4, 3, 0, 1]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
import numpy.typing as npt
import polars as pl
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel, Jaro, JaroWinkler, Levenshtein

from kvklink._arrays import kernel_input
from kvklink.errors import ConfigError
from kvklink.frames import large_string_array
from kvklink.linkage._standardise import Cleaner
from kvklink.linkage._strings import SIMILARITIES, EncodedStrings, Similarity, encode_strings
from kvklink.linkage._strings import pair_levels as _pair_levels_kernel

__all__ = [
    "FieldComparison",
    "Similarity",
    "ValueDictionary",
    "comparison_levels",
    "factorize",
    "pair_levels",
    "similarity_scores",
    "value_dictionary",
]

_CLEANERS = ("text", "company_name", "legal_form", "street", "postcode", "house_number", "date",
             "none")

_SCORERS: dict[str, tuple[Callable[..., float], float]] = {
    "jaro_winkler": (JaroWinkler.normalized_similarity, 1.0),
    "jaro": (Jaro.normalized_similarity, 1.0),
    "levenshtein": (Levenshtein.normalized_similarity, 1.0),
    "indel": (Indel.normalized_similarity, 1.0),
    "token_sort": (fuzz.token_sort_ratio, 100.0),
    "token_set": (fuzz.token_set_ratio, 100.0),
}


@dataclass(frozen=True)
class FieldComparison:
    """How one field is standardised and compared.

    Parameters
    ----------
    name
        Name of the standardised field (also used in blocking keys and in the ``w_<name>``
        explanation column).
    left, right
        Column holding the field in the query frame and in the reference frame.
    cleaner
        Standardiser applied to both sides (see :mod:`kvklink.linkage._standardise`).
    similarity
        Similarity in [0, 1]: rapidfuzz ``jaro_winkler``, ``jaro``, ``levenshtein``, ``indel``
        (normalised), ``token_sort``/``token_set`` (ratio / 100), ``jaro_winkler_token_set``
        (the larger of the two: robust to typos *and* to extra or missing words, e.g. a
        misspelt legal form left in a name); ``house_number`` gives 0.9 when
        only the number agrees and the addition differs; ``exact`` has no partial levels.
    thresholds
        Similarity cut-offs for the partial-agreement levels (any order; stored ascending).

    >>> FieldComparison("pc", "postcode", "postcode", cleaner="postcode",
    ...                 thresholds=(0.85, 0.92)).thresholds
    (0.85, 0.92)
    """

    name: str
    left: str
    right: str
    cleaner: Cleaner = "text"
    similarity: Similarity = "jaro_winkler"
    thresholds: tuple[float, ...] = field(default=(0.92, 0.8))

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            msg = (
                f"The 'name' of a FieldComparison must be an identifier, got {self.name!r}. "
                "Hint: use letters, digits and underscores."
            )
            raise ConfigError(msg)
        if self.cleaner not in _CLEANERS:
            msg = (
                f"The 'cleaner' of field {self.name!r} must be one of {_CLEANERS}, "
                f"got {self.cleaner!r}. Hint: pick the closest standardiser."
            )
            raise ConfigError(msg)
        if self.similarity not in SIMILARITIES:
            msg = (
                f"The 'similarity' of field {self.name!r} is unknown: {self.similarity!r}. "
                "Hint: use e.g. 'jaro_winkler', 'levenshtein' or 'exact'."
            )
            raise ConfigError(msg)
        ts = tuple(sorted(float(t) for t in self.thresholds))
        if any(not 0.0 < t < 1.0 for t in ts) or len(set(ts)) != len(ts):
            msg = (
                f"The 'thresholds' of field {self.name!r} must be distinct numbers in (0, 1), "
                f"got {self.thresholds!r}. Hint: e.g. (0.92, 0.8)."
            )
            raise ConfigError(msg)
        if self.similarity == "exact":
            ts = ()
        object.__setattr__(self, "thresholds", ts)

    @property
    def n_levels(self) -> int:
        """Number of comparison levels including ``null``."""
        return len(self.thresholds) + 3

    @property
    def level_labels(self) -> tuple[str, ...]:
        """Readable label of each level, in level order."""
        return ("null", "else", *(f">={t:g}" for t in self.thresholds), "exact")


def similarity_scores(
    left: pl.Series, right: pl.Series, similarity: Similarity
) -> npt.NDArray[np.float64]:
    """Pairwise similarity of two aligned series without nulls, as float64 in [0, 1].

    >>> import polars as pl
    >>> similarity_scores(pl.Series(["12-A", "12"]), pl.Series(["12-B", "13"]),
    ...                   "house_number").tolist()
    [0.9, 0.0]
    """
    return _scores(
        np.asarray(left.to_list(), dtype=object), np.asarray(right.to_list(), dtype=object),
        similarity,
    )


def _scores(
    a: npt.NDArray[np.object_],
    b: npt.NDArray[np.object_],
    similarity: Similarity,
) -> npt.NDArray[np.float64]:
    """rapidfuzz similarities of aligned object arrays (the reference the kernels must equal)."""
    if a.size == 0:
        return np.zeros(0, dtype=np.float64)
    if similarity == "exact":
        return np.asarray(a == b, dtype=np.float64)
    if similarity == "house_number":
        same = np.asarray(a == b, dtype=bool)
        num_a = np.asarray([x.split("-")[0] for x in a], dtype=object)
        num_b = np.asarray([x.split("-")[0] for x in b], dtype=object)
        same_num = np.asarray(num_a == num_b, dtype=bool)
        return np.where(same, 1.0, np.where(same_num, 0.9, 0.0))
    if similarity == "jaro_winkler_token_set":
        jw = _scores(a, b, "jaro_winkler")
        # token-set only matters where Jaro-Winkler is below 1 (max of the two)
        todo = np.flatnonzero(jw < 1.0)
        if todo.size:
            jw[todo] = np.maximum(jw[todo], _scores(a[todo], b[todo], "token_set"))
        return jw
    scorer, scale = _SCORERS[similarity]
    scores = process.cpdist(a, b, scorer=scorer, workers=-1, dtype=np.float64)
    return np.asarray(scores, dtype=np.float64) / scale


def comparison_levels(
    left: pl.Series, right: pl.Series, comparison: FieldComparison
) -> npt.NDArray[np.int8]:
    """Comparison level of every aligned pair (see the module docstring for the coding)."""
    n = len(left)
    levels = np.zeros(n, dtype=np.int8)
    if n == 0:
        return levels
    present = (left.is_not_null() & right.is_not_null()).to_numpy()
    idx = np.flatnonzero(present)
    if idx.size == 0:
        return levels
    lv = left.gather(idx)
    rv = right.gather(idx)
    exact = (lv == rv).to_numpy()
    sub = np.ones(idx.size, dtype=np.int8)
    if comparison.thresholds:
        todo = np.flatnonzero(~exact)
        sims = similarity_scores(lv.gather(todo), rv.gather(todo), comparison.similarity)
        partial = np.ones(todo.size, dtype=np.int8)
        for k, t in enumerate(comparison.thresholds):
            partial[sims >= t] = k + 2
        sub[todo] = partial
    sub[exact] = comparison.n_levels - 1
    levels[idx] = sub
    return levels


@dataclass(frozen=True, eq=False, repr=False)
class ValueDictionary:
    """The distinct non-null values of a column, encoded for the similarity kernels.

    ``codes[i]`` is row ``i``'s index into ``values`` (-1 = null); ``encoded`` holds the
    values' code points (see :mod:`kvklink.linkage._strings`).
    """

    values: pl.Series
    codes: npt.NDArray[np.int64]
    encoded: EncodedStrings


@numba.njit(cache=True)
def _factorize_kernel(
    data: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    row_hashes: npt.NDArray[np.uint64],
    codes: npt.NDArray[np.int64],
    first: npt.NDArray[np.int64],
) -> int:  # pragma: no cover - compiled
    """Codes in first-seen order by an open-addressing hash table over the UTF-8 bytes.

    Row ``i`` is ``data[starts[i]:ends[i]]`` with hash ``row_hashes[i]``; equal byte strings
    get one code (compared byte by byte, so a hash collision never merges two values).
    Writes ``codes`` (-1 where not ``valid``) and ``first[c]`` (the first row of code
    ``c``); returns the number of codes.
    """
    n = starts.size
    size = 1
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    slots = np.full(size, -1, dtype=np.int64)  # code stored in each slot
    hashes = np.empty(n, dtype=np.uint64)  # hash of each code's value
    n_codes = 0
    for i in range(n):
        if not valid[i]:
            codes[i] = -1
            continue
        s, e = starts[i], ends[i]
        h = row_hashes[i]
        pos = h & mask
        while True:
            c = slots[pos]
            if c < 0:
                slots[pos] = n_codes
                hashes[n_codes] = h
                first[n_codes] = i
                codes[i] = n_codes
                n_codes += 1
                break
            if hashes[c] == h:
                f = first[c]
                fs = starts[f]
                if ends[f] - fs == e - s:
                    same = True
                    for j in range(e - s):
                        if data[fs + j] != data[s + j]:
                            same = False
                            break
                    if same:
                        codes[i] = c
                        break
            pos = (pos + np.uint64(1)) & mask
    return n_codes


def factorize(values: pl.Series) -> tuple[npt.NDArray[np.int64], pl.Series]:
    """Each row's code (-1 = null) and the distinct non-null values, in first-seen order.

    Text is factorised by a compiled hash table over its Arrow bytes, keyed by polars'
    64-bit hash of each value and exact (values with equal hashes are compared byte by
    byte); other dtypes are factorised as text.

    >>> import polars as pl
    >>> codes, distinct = factorize(pl.Series(["b", None, "a", "b"]))
    >>> codes.tolist(), distinct.to_list()
    ([0, -1, 1, 0], ['b', 'a'])
    """
    n = values.len()
    if n == 0:
        return np.zeros(0, dtype=np.int64), values.clear()
    if values.dtype != pl.Utf8:
        text = values.cast(pl.Utf8)
        codes, distinct = factorize(text)
        # distinct text values map back to the first row of each code
        first = np.full(distinct.len(), -1, dtype=np.int64)
        present = np.flatnonzero(codes >= 0)
        first[codes[present][::-1]] = present[::-1]
        return codes, values.gather(first)
    arr = large_string_array(values)
    bounds = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data_buf = arr.buffers()[2]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None
        else np.zeros(0, dtype=np.uint8)
    )
    valid = (
        arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count
        else np.ones(n, dtype=np.bool_)
    )
    codes = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    hashes = values.hash(seed=0x6B766B).to_numpy()
    n_codes = _factorize_kernel(
        kernel_input(data, np.uint8), kernel_input(bounds[:-1], np.int64),
        kernel_input(bounds[1:], np.int64), kernel_input(valid, np.bool_),
        kernel_input(hashes, np.uint64), codes, first,
    )
    return codes, values.gather(first[:n_codes])


def value_dictionary(values: pl.Series, *, distinct: bool = True) -> ValueDictionary:
    """Distinct non-null values and each row's code (-1 = null), encoded for the kernels.

    With ``distinct=False`` every non-null row keeps its own entry (no deduplication): the
    comparison kernels give the same levels either way (they compare the strings, not the
    codes), so a batch of mostly distinct query values skips finding the distinct ones.

    >>> import polars as pl
    >>> d = value_dictionary(pl.Series(["b", None, "a", "b"]))
    >>> d.values.to_list(), d.codes.tolist()
    (['b', 'a'], [0, -1, 1, 0])
    >>> d = value_dictionary(pl.Series(["b", None, "a", "b"]), distinct=False)
    >>> d.values.to_list(), d.codes.tolist()
    (['b', 'a', 'b'], [0, -1, 1, 2])
    """
    text = values.cast(pl.Utf8)
    if distinct:
        codes, uniq = factorize(text)
    else:
        present = text.is_not_null().to_numpy()
        codes = np.where(present, np.cumsum(present) - 1, -1).astype(np.int64)
        uniq = text.drop_nulls() if text.null_count() else text
    return ValueDictionary(values=uniq, codes=codes, encoded=encode_strings(uniq))


def pair_levels(
    left: pl.Series | ValueDictionary,
    right: pl.Series | ValueDictionary,
    left_index: npt.NDArray[np.integer],
    right_index: npt.NDArray[np.integer],
    comparison: FieldComparison,
) -> npt.NDArray[np.int8]:
    """Levels of the pairs ``(left[i], right[j])`` for aligned index arrays.

    ``left``/``right`` are series or precomputed :func:`value_dictionary` results. The
    pairs are scored by the numba kernels of :mod:`kvklink.linkage._strings` (rapidfuzz's
    definitions, no Python object per value or pair).

    >>> import numpy as np, polars as pl
    >>> fc = FieldComparison("city", "c", "c", thresholds=(0.9,))
    >>> pair_levels(pl.Series(["ede", None]), pl.Series(["ede", "edee"]),
    ...             np.array([0, 0, 1]), np.array([0, 1, 0]), fc).tolist()
    [3, 2, 0]
    """
    if len(left_index) == 0:
        return np.zeros(0, dtype=np.int8)
    ld = value_dictionary(left) if isinstance(left, pl.Series) else left
    rd = value_dictionary(right) if isinstance(right, pl.Series) else right
    lc = ld.codes.take(left_index)
    rc = rd.codes.take(right_index)
    return _pair_levels_kernel(ld.encoded, rd.encoded, lc, rc, comparison.similarity,
                               comparison.thresholds)
