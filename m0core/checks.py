"""Checking a numeric option, for the core and for plugins: every bad value is one
:class:`~m0core.errors.OptionError` line naming the option."""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

from m0core.errors import OptionError


def number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
           above: float | None = None, below: float | None = None) -> float:
    """``value`` as a finite float within ``[low, high]``, strictly over ``above`` and strictly
    under ``below``; a bool (``True`` is 1 to Python) is an error."""
    if _is_bool(value):
        raise OptionError(f"{name} must be a number, not {value!r}")
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


#: The seconds between an analyzer's score values, at least and at most: the curve is kept
#: whole for the report and the cache (100 values a second at most: 8.6 MB for 6 hours).
HOP_RANGE = (0.01, 10.0)


def hop(value: Any) -> float:
    """An analyzer's ``hop``: seconds between score values, within :data:`HOP_RANGE`."""
    return number("hop", value, low=HOP_RANGE[0], high=HOP_RANGE[1])


def floor_db(value: Any) -> float:
    """An analyzer's ``floor_db``: the value it reports for silence, -200 up to (not) 0."""
    return number("floor_db", value, low=-200.0, below=0.0)


def whole(name: str, value: Any, *, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` within ``[low, high]``: an int (numpy's too), or a float with no
    fraction (``3.0`` from JSON); a bool, a string or a fraction is an error, never rounded."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy's ints too
        raise OptionError(f"{name} must be a whole number, not {value!r}")
    x = number(name, value, low=low, high=high)
    if x != int(x):
        raise OptionError(f"{name} must be a whole number, not {value!r}")
    return int(x)


def flag(name: str, value: Any) -> bool:
    """``value`` as a ``bool``: ``True``/``False`` (numpy's too, or ``1``/``0``); anything
    else, such as the string ``"no"`` (which Python would take as true), is an error."""
    if _is_bool(value):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise OptionError(f"{name} must be True or False, not {value!r}")


def _is_bool(value: Any) -> bool:
    """Whether ``value`` is a bool, Python's or numpy's."""
    return isinstance(value, bool) or type(value).__module__ == "numpy" and \
        type(value).__name__ in ("bool", "bool_")


#: ``audio_track`` value that mixes every audio track of a file.
ALL_TRACKS = "all"


def audio_track(value: Any) -> int | str:
    """An ``audio_track`` option: a track number from 1 (as players and OBS number them; a
    digit string is taken too) or ``"all"`` (every track mixed)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == ALL_TRACKS:
            return ALL_TRACKS
        if text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise OptionError(f"audio_track must be a track number from 1 or 'all', not {value!r}")
    return int(value)


#: What a path given as ``""`` (an unset variable) is told.
EMPTY_PATH = "is empty (an unset variable?): give a path"
#: ... and a folder's.
EMPTY_FOLDER = f"{EMPTY_PATH}, '.' for the current folder"


def path(name: str, value: Any, *, folder: bool = False) -> str:
    """``value``, a ``str`` or :class:`os.PathLike` of one, as a ``str``; anything else (a
    number, ``None``, bytes) and an empty path, which ``Path("")`` would take for the current
    folder, are errors. ``folder`` says it names a folder (the message offers ``'.'``)."""
    try:
        text = os.fspath(value)
    except TypeError:
        text = None
    if not isinstance(text, str):
        raise OptionError(f"{name} must be a path (a str or pathlib.Path), not {value!r}")
    if not text.strip():
        raise OptionError(f"{name} {EMPTY_FOLDER if folder else EMPTY_PATH}")
    return text
