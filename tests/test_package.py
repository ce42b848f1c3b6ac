"""Package-level checks: import, version, public surface, error tree."""

from __future__ import annotations

import inspect

import kvklink
from kvklink import errors


def test_version_is_a_string() -> None:
    assert isinstance(kvklink.__version__, str)
    assert kvklink.__version__


def test_all_names_exist_and_are_public() -> None:
    for name in kvklink.__all__:
        assert hasattr(kvklink, name), name
    public = {
        n
        for n, v in vars(kvklink).items()
        if not n.startswith("_") and not inspect.ismodule(v)
    }
    assert public <= set(kvklink.__all__), public - set(kvklink.__all__)


def test_every_error_derives_from_the_base_and_a_builtin() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.KvklinkError)
        if cls is not errors.KvklinkError:
            assert issubclass(cls, ValueError)
