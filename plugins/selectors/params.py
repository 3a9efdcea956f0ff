"""Checking the options of a selector: every bad value is an :class:`OptionError`."""

from __future__ import annotations

import math

from m0core.errors import OptionError
from m0core.model import Timeline


def number(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
) -> float:
    """``value`` as a finite float within ``[low, high]`` and strictly over ``above``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(x):
        raise OptionError(f"{name} must be a finite number, not {value}")
    if low is not None and x < low:
        raise OptionError(f"{name} must be at least {low:g}, not {value}")
    if high is not None and x > high:
        raise OptionError(f"{name} must be at most {high:g}, not {value}")
    if above is not None and x <= above:
        raise OptionError(f"{name} must be more than {above:g}, not {value}")
    return x


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
