"""Arrays as the compiled kernels take them.

numba compiles (and caches) one version of a kernel per combination of argument types, and an
array's type includes whether it is writable. Arrays read zero-copy from polars or Arrow are
read-only, arrays numpy computes are writable, so the same kernel would otherwise be compiled
— or, in a fresh process, loaded from the cache — once for each mix, some of them only in the
middle of a batch. Kernel inputs therefore always go in read-only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["kernel_input"]


def kernel_input(values: Any, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """A C-contiguous, read-only view of ``values`` as ``dtype`` (copied only when needed).

    >>> a = kernel_input([1, 2], np.int64)
    >>> a.flags.writeable, a.dtype.name
    (False, 'int64')
    """
    out = np.ascontiguousarray(values, dtype=dtype).view()
    out.flags.writeable = False
    return out
