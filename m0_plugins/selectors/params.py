"""Checking the options of a selector: every bad value is an :class:`OptionError`."""

from __future__ import annotations

from m0core.checks import number
from m0core.errors import OptionError
from m0core.model import Timeline


def whole(name: str, value: int, *, low: int = 0, high: int | None = None) -> int:
    """``value`` as an int within ``[low, high]``; a fraction is an error, not rounded."""
    x = number(name, value, low=low, high=high)
    if x != int(x):
        raise OptionError(f"{name} must be a whole number, not {value}")
    return int(x)


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
