"""One-line messages for a person in the terminal: errors, warnings, times."""

from __future__ import annotations

import click


def error(message: str) -> None:
    """One red ``Error:`` line on stderr."""
    click.secho(f"Error: {message}", fg="red", err=True)


def warn(message: str) -> None:
    """One yellow ``Warning:`` line on stderr."""
    click.secho(f"Warning: {message}", fg="yellow", err=True)


def clock(seconds: float) -> str:
    """``1:02:03`` or ``2:03`` for a time in seconds (whole seconds, like clip names)."""
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 clip``, ``2 clips``: a count and its noun, singular for one (``plural`` when it is
    not the noun and an ``s``: ``count(2, "analysis", "analyses")``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
