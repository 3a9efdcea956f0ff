"""Checking a numeric option, for the core and for plugins: every bad value is one
:class:`~m0core.errors.OptionError` line naming the option."""

from __future__ import annotations

import math
from typing import Any

from m0core.errors import OptionError


def number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
           above: float | None = None, below: float | None = None) -> float:
    """``value`` as a finite float within ``[low, high]``, strictly over ``above`` and strictly
    under ``below``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(x):
        raise OptionError(f"{name} must be a finite number, not {value!r}")
    if low is not None and high is not None and not low <= x <= high:
        raise OptionError(f"{name} must be between {low:g} and {high:g}, not {value!r}")
    if low is not None and x < low:
        raise OptionError(f"{name} must be at least {low:g}, not {value!r}")
    if high is not None and x > high:
        raise OptionError(f"{name} must be at most {high:g}, not {value!r}")
    if above is not None and x <= above:
        raise OptionError(f"{name} must be more than {above:g}, not {value!r}")
    if below is not None and x >= below:
        raise OptionError(f"{name} must be less than {below:g}, not {value!r}")
    return x
