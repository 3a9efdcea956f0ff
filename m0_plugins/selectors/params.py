"""Checking what every selector is given: the threshold and the timeline (numbers go through
:mod:`m0core.checks`)."""

from __future__ import annotations

from m0core.checks import number
from m0core.errors import OptionError
from m0core.model import Timeline


def threshold(value: float | None) -> float | None:
    """A threshold in dB: ``None`` or a finite number."""
    return None if value is None else number("threshold", value)


def timeline(value: Timeline) -> Timeline:
    """Reject a timeline a selector cannot work with."""
    if not isinstance(value, Timeline):
        raise OptionError(f"timeline must be a Timeline, not {type(value).__name__}")
    number("hop", value.hop, above=0.0)
    number("min_gap", value.min_gap, low=0.0)
    return value
