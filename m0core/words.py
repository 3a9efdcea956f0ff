"""How m0 says a number in words, in the terminal and in its developer tools alike."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 clip``, ``2 clips``: a count and its noun, singular for one (``plural`` when it is
    not the noun and an ``s``: ``count(2, "analysis", "analyses")``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
