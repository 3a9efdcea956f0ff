"""The report a run writes (docs/benchmarks.md by default), and how a run brings one that is
already there up to date without losing what people wrote in it.

A report is a header, then one section a table: its ``### title``, its rows and the notes the
run made, then :data:`MARK`, then any notes people wrote under it since. A run writing to a
report that exists replaces, for each table it made, the section of the same title (a file's
size in a title, "(1.42 GB)", is not part of the match) up to its mark, keeping the notes below
it; the sections of tables it did not make stay as they are, and tables new to the report go at
its end. Only a run of every suite writes a new header. A section without the mark (written by
hand) keeps every line under its rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The line between the notes a run writes under a table and those people add below them.
MARK = "<!-- the run's notes end here; notes below are kept when the table is made again -->"
_SIZE = re.compile(r"\s*\(\d+(?:\.\d+)? GB\)")


@dataclass
class Table:
    """A result table for the console and the report."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The table as markdown: its title, rows and notes."""
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _key(title: str) -> str:
    return _SIZE.sub("", title).strip()


def _sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The header of a report and its sections as (title, text), in order."""
    parts = re.split(r"(?m)^(?=### )", text)
    header = parts[0] if not parts[0].startswith("### ") else ""
    return header, [(p.splitlines()[0][4:], p) for p in parts if p.startswith("### ")]


def _kept(section: str) -> str:
    """What stays of an old section when its table is made again: the lines below its mark,
    or, where it has none, every line below its rows."""
    if MARK in section:
        return section.split(MARK, 1)[1].lstrip("\n")
    lines = section.splitlines(keepends=True)
    last_row = max((i for i, line in enumerate(lines) if line.startswith("|")), default=0)
    return "".join(lines[last_row + 1:]).lstrip("\n")


def _section(table: Table, kept: str = "") -> str:
    """A table's section of a report: its markdown, the mark, and the notes ``kept``."""
    return table.markdown() + MARK + "\n" + kept


def updated(old: str | None, header: str, tables: list[Table], every_suite: bool) -> str:
    """The report ``old`` (``None``: there is none yet) with ``tables`` made again; ``header``
    replaces its header when the run made ``every_suite``, or when there is no report yet."""
    old_header, sections = _sections(old or "")
    made = {_key(t.title): t for t in tables}
    out = [header if every_suite or not old_header else old_header]
    for title, text in sections:
        table = made.pop(_key(title), None)
        out.append(text if table is None else _section(table, _kept(text)))
    return _joined(out + [_section(t) for t in made.values()])


def _joined(parts: list[str]) -> str:
    """The header and sections, one blank line between each."""
    return "\n\n".join(p.strip("\n") for p in parts if p.strip()) + "\n"
