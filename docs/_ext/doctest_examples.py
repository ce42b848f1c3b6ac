"""Griffe extension for the docs build: give unlabelled doctest blocks an "Examples" heading.

Some numpy-style docstrings end with a ``>>>`` example directly after their "Parameters"
section or summary, without an "Examples" heading. Griffe then reads the example as part of the
previous section (a parse warning) or as prose (Markdown mangles the output lines), and
``mkdocs build --strict`` fails. This extension inserts the heading in the *rendered* copy of
such docstrings only; the source files are not changed and doctests still run from them.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLES_HEADING = re.compile(r"^Examples?\n-{3,}$", re.MULTILINE)


class DoctestExamples(griffe.Extension):
    """Insert ``Examples`` + underline before the first top-level ``>>>`` line when missing."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None or ">>>" not in docstring.value:
            return
        text = docstring.value
        if _EXAMPLES_HEADING.search(text):
            return
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if line.startswith(">>>"):
                head = lines[:i]
                while head and not head[-1].strip():
                    head.pop()
                docstring.value = "\n".join([*head, "", "Examples", "--------", *lines[i:]])
                return
