"""One-line messages for a person in the terminal: errors, warnings, times; stdout kept
for m0's own output."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any, TextIO

import click

from m0core.errors import escaped
from m0core.words import count


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send to stderr what is printed to stdout while the block runs (a plugin's ``print``,
    a process it starts): a command's stdout then holds its own output only, and a
    ``--json`` document stays valid. Wrap the work, not the output."""
    sys.stdout.flush()
    try:
        fd, to = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not files (a caller's capture)
        fd = to = None
    saved = os.dup(fd) if fd is not None else None
    if saved is not None:
        os.dup2(to, fd)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, fd)
            os.close(saved)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (``\\n``, ``\\x1b``): a file name holding
    a line break or a terminal's escape neither breaks a line m0 prints nor drives the
    terminal. A byte of a name that is not UTF-8 (``os.fsdecode``'s ``\\udce9``) is ``�``,
    as :func:`m0core.media.ffmpeg.check_name` shows it, so the line is UTF-8."""
    return _SURROGATE.sub("\ufffd", escaped(text))


def dumb_terminal() -> bool:
    """Whether the terminal says it can neither colour nor redraw a line (``TERM=dumb``:
    Emacs's shell and compilation buffers), where escape sequences show as they are."""
    return os.environ.get("TERM") == "dumb"


def live_terminal() -> bool:
    """Whether stderr is a terminal m0 may redraw a line of (progress): one that is not
    :func:`dumb_terminal`."""
    try:
        return sys.stderr.isatty() and not dumb_terminal()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


class AsLog:
    """``stream`` as a log, not a terminal (``isatty`` is false), for click, which draws a
    progress bar and colours only on a terminal; the rest is the stream's."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def colour() -> bool | None:
    """Whether m0's lines on stderr may be coloured (click's ``color``): not where
    ``NO_COLOR`` is set to anything (no-color.org) or the terminal is a
    :func:`dumb_terminal`; else ``None``, where stderr is a terminal (click's own test)."""
    return False if os.environ.get("NO_COLOR") or dumb_terminal() else None


def say(message: str, fg: str | None = None) -> None:
    """A line on stderr, in colour ``fg`` where the terminal shows colours (:func:`colour`)."""
    click.secho(message, fg=fg, err=True, color=colour())


def error(message: str) -> None:
    """One red ``Error:`` line on stderr."""
    say(f"Error: {one_line(message)}", "red")


def warn(message: str) -> None:
    """One yellow ``Warning:`` line on stderr."""
    say(f"Warning: {one_line(message)}", "yellow")


def terminal_width() -> int:
    """Columns of the terminal on stderr, where m0 draws its progress: ``COLUMNS`` where it is
    set (as Python's ``shutil`` reads it), else the terminal's own; 100 where neither says
    more than 20 (a pseudo-terminal may report 0)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns) if int(columns) > 20 else 100
    try:
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        columns = 0
    return columns if columns > 20 else 100


def columns(text: str) -> int:
    """Terminal columns ``text`` takes (by wcwidth): a wide character (Chinese, Japanese,
    Korean, most emoji) two, a combining mark none, an emoji sequence joined by ZWJ or with
    a skin tone as one emoji. Printable ASCII is one column a character: wcwidth (~6 MiB
    and ~15 ms to import) is imported for other text only, not by every command's start."""
    if text.isascii() and text.isprintable():
        return len(text)
    import wcwidth

    return wcwidth.width(text)


def fit(text: str, room: int, end: str = "") -> str:
    """``text`` cut to what ``room`` columns of a terminal show (:func:`columns`), ``end``
    (``…``) in place of what is cut."""
    if columns(text) <= room:
        return text
    import wcwidth

    return wcwidth.clip(text, 0, max(0, room - columns(end))).rstrip() + end


def clock(seconds: float) -> str:
    """``1:02:03`` or ``2:03`` for a time in seconds (whole seconds, like clip names)."""
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def span(seconds: float) -> str:
    """A recording's length as :func:`clock` gives it, or ``0.4 s`` under a second (which
    would be ``0:00``)."""
    return clock(seconds) if seconds >= 1 else f"{seconds:.2g} s"


def size(n_bytes: int) -> str:
    """A size as a person reads it: ``512 bytes``, ``36 KB``, ``5.3 MB``, ``1.2 GB`` (of 1024),
    never the ``0.0 MB`` a small folder's was."""
    if n_bytes < 2**10:
        return count(n_bytes, "byte")
    for unit, scale in (("KB", 2**10), ("MB", 2**20)):
        if n_bytes < 2**10 * scale:
            return f"{n_bytes / scale:.{0 if unit == 'KB' else 1}f} {unit}"
    return f"{n_bytes / 2**30:.1f} GB"
