"""Griffe extension for the docs build: render kvklink's numpy/Sphinx-flavoured docstrings cleanly.

kvklink's docstrings are written for ``help()``, Sphinx habits and doctest. mkdocstrings renders
them as Markdown, so a few constructs need translating. This extension rewrites the *rendered*
copy of each docstring only; the source files are not changed and doctests still run from them.

* An unlabelled ``>>>`` example directly after a "Parameters" section or the summary gets an
  "Examples" heading (otherwise griffe reads it as part of the previous section — a parse
  warning that fails ``mkdocs build --strict`` — or Markdown mangles its output lines).
* Sphinx roles (``:class:`~kvklink.X```, ``:func:`f```, …) become inline code (``X``, ``f``).
* reST simple tables (``=====  =====`` rules) become Markdown tables.
* A paragraph ending in ``::`` before an indented literal block ends in ``:`` (the indented
  block is already a Markdown code block).
* reST definition lists in the free text before the first numpy section become Markdown
  definition lists.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLES_HEADING = re.compile(r"^Examples?\n-{3,}$", re.MULTILINE)
_ROLE = re.compile(r":(?:class|func|meth|data|attr|mod|exc|obj|const|ref|term):`~?([^`]+)`")
_RULE = re.compile(r"^=+(?:[ \t]+=+)+[ \t]*$")
_SECTION = re.compile(
    r"^(?:Parameters|Returns|Yields|Raises|Warns|Examples?|Notes|References|See Also|Attributes"
    r"|Methods|Other Parameters)\n-{3,}$",
    re.MULTILINE,
)
_DEFINITION = re.compile(r"^(?![*+\- ]|\d+\.|>>>)(\S[^\n]*)\n((?:    \S[^\n]*(?:\n|$))+)",
                         re.MULTILINE)


def _definition(match: re.Match[str]) -> str:
    body = match.group(2).rstrip("\n").split("\n")
    return f"{match.group(1)}\n:   {body[0][4:]}\n" + "".join(f"{line}\n" for line in body[1:])


def _definition_lists(text: str) -> str:
    """reST definition lists (term, then 4-space-indented lines) in the free text before the
    first numpy section become Markdown definition lists (sections keep their own syntax)."""
    section = _SECTION.search(text)
    head, tail = (text[: section.start()], text[section.start() :]) if section else (text, "")
    return _DEFINITION.sub(_definition, head) + tail


def _role(match: re.Match[str]) -> str:
    target = match.group(1)
    if "<" in target and target.endswith(">"):  # :ref:`text <target>`
        target = target.split("<", 1)[0].strip()
    elif "`~" in match.group(0):
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _columns(rule: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"=+", rule)]


def _split(line: str, spans: list[tuple[int, int]]) -> list[str]:
    cells = []
    for i, (start, _end) in enumerate(spans):
        stop = spans[i + 1][0] if i + 1 < len(spans) else len(line)
        cells.append(line[start:stop].strip())
    return cells


def _tables(lines: list[str]) -> list[str]:
    """Convert reST simple tables (top rule, header, rule, rows, bottom rule) to Markdown."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _RULE.match(line):
            # find the header rule and the closing rule
            j = i + 1
            while j < len(lines) and not _RULE.match(lines[j]):
                j += 1
            k = j + 1
            while k < len(lines) and not _RULE.match(lines[k]):
                k += 1
            if k < len(lines):
                spans = _columns(line)
                header = [" ".join(c) for c in zip(*(_split(h, spans) for h in lines[i + 1 : j]),
                                                   strict=True)]
                rows: list[list[str]] = []
                for body in lines[j + 1 : k]:
                    cells = _split(body, spans)
                    if rows and cells[0] == "" and body.strip():
                        rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells,
                                                                       strict=True)]
                    elif body.strip():
                        rows.append(cells)
                if out and out[-1].strip():
                    out.append("")
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "---|" * len(header))
                out.extend("| " + " | ".join(r) + " |" for r in rows)
                out.append("")
                i = k + 1
                continue
        out.append(line)
        i += 1
    return out


def _literal_blocks(lines: list[str]) -> list[str]:
    out = list(lines)
    for i, line in enumerate(out[:-2]):
        if (
            line.rstrip().endswith("::")
            and not line.lstrip().startswith((">>>", "..."))
            and not out[i + 1].strip()
            and out[i + 2].startswith(("    ", "\t"))
        ):
            stripped = line.rstrip()
            out[i] = stripped[:-2].rstrip() + ":" if stripped != "::" else ""
    return out


class DoctestExamples(griffe.Extension):
    """Rewrite each docstring's rendered text (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None:
            return
        text = docstring.value
        text = _definition_lists(_ROLE.sub(_role, text))
        lines = _literal_blocks(_tables(text.split("\n")))
        if ">>>" in text and not _EXAMPLES_HEADING.search(text):
            for i, line in enumerate(lines):
                if line.startswith(">>>"):
                    head = lines[:i]
                    while head and not head[-1].strip():
                        head.pop()
                    lines = [*head, "", "Examples", "--------", *lines[i:]]
                    break
        docstring.value = "\n".join(lines)
