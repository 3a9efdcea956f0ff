"""Progress bars in the terminal for one run (``m0 analyze``, ``m0 chapters``, the demo)."""

from __future__ import annotations

import itertools
import sys
from typing import TYPE_CHECKING, Any

import click

from m0core.cli.console import (
    AsLog,
    columns,
    dumb_terminal,
    fit,
    terminal_width,
    warn,
)
from m0core.model import ClipResult, MediaInfo
from m0core.pipeline import Progress
from m0core.words import count

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

#: Columns of a bar's track where the terminal has room for them.
TRACK = 30


def progress_bar(**options: Any) -> ProgressBar:
    """A click progress bar on stderr (``options``: click's) whose line fits the terminal:
    its track :data:`TRACK` columns or what the terminal leaves of them, the line cut at the
    terminal's last column. A longer line wraps, and every redraw, back to the start of the
    row it ends on, left a row behind: a 40-column terminal scrolled a line per step. On a
    :func:`~m0core.cli.console.dumb_terminal` it prints its label alone, as in a log."""
    stream = AsLog(sys.stderr) if dumb_terminal() else sys.stderr
    bar = click.progressbar(file=stream, show_eta=True, width=TRACK, **options)
    line = bar.format_progress_line

    def fitted() -> str:
        room = terminal_width() - 1
        bar.width = TRACK
        shown = line()
        over = columns(shown) - room
        if over > 0:  # a narrow terminal: the track shorter, the line cut
            bar.width = max(0, TRACK - over)
            shown = fit(line(), room)
        bar.max_width = min(bar.max_width or 0, room)  # what a redraw pads to
        return shown

    bar.format_progress_line = fitted
    return bar


class ConsoleProgress(Progress):
    """Progress bars on stderr: analysis (audio seconds), then the clips still running, the
    compilation being made, then the outputs being written (the report's thumbnails and page,
    the ``--format`` files).

    Bars only draw on a terminal; elsewhere (logs, CI) click prints nothing but the label.
    """

    def __init__(self, label: str = "Analysing", enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled
        self._bar = None
        self._clip_bar = None
        self._compile_bar = None
        self._write_bar = None
        self._shown = 0.0
        self._clips_done = 0
        self._clips_total = 0
        self._found = 0
        self._warned: set[str] = set()

    def started(self, media: MediaInfo) -> None:
        if not self.enabled:
            return
        # A recording of unknown length (raw audio, a file still being written) gets a bar
        # without a percentage: click needs a length or an iterable, and count() has no length.
        size = ({"length": max(1, int(media.duration))} if media.duration
                else {"iterable": itertools.count()})
        self._bar = progress_bar(**size, label=self.label, show_pos=False,
                                 item_show_func=self._status)
        self._bar.__enter__()

    def _status(self, _item: object) -> str:
        text = count(self._found, "highlight")
        if self._clips_total:
            text += f", clips {self._clips_done}/{self._clips_total}"
        return text

    def analysed(self, position: float, highlights: int) -> None:
        self._found = highlights
        if self._bar is not None:
            step = int(position) - int(self._shown)
            self._shown = position
            self._bar.update(max(step, 0), current_item=position)

    def clip_done(self, result: ClipResult, done: int, submitted: int) -> None:
        self._clips_done, self._clips_total = done, submitted
        if not result.ok and result.error not in self._warned:
            # once per reason: a full disk fails every clip after the first the same way
            self._warned.add(result.error)
            self._above_bars(f"clip {result.highlight.index} failed: {result.error}")
        # a failed clip is done too: the bars go on counting (and are drawn again below the
        # warning, their line having changed)
        if self._clip_bar is not None:
            self._clip_bar.update(1)
        elif self._bar is not None:
            self._bar.render_progress()  # its status counts the clips

    def _above_bars(self, message: str) -> None:
        """Print the warning ``message`` on a line of its own, the bar drawing (on a
        terminal, on the line it was on) erased first; the bar is drawn again below it at its
        next change."""
        for bar in (self._bar, self._clip_bar):
            if bar is not None and bar.file.isatty():
                bar.file.write("\r" + " " * (bar.max_width or 0) + "\r")
        warn(message)

    def analysis_done(self, highlights: int, clips_pending: int) -> None:
        self._found = highlights
        bar = self._bar
        if bar is not None:
            bar.current_item = self._shown  # its last line shows what the selection found
            if bar.length is not None and bar.pos < bar.length:
                # the whole file is analysed: the seconds decoded can sum to a fraction under
                # its duration (the bar stopped at 99 %)
                bar.update(bar.length - bar.pos)
            else:
                bar.render_progress()
        self._close_bars()
        if self.enabled and clips_pending:
            self._clip_bar = progress_bar(length=clips_pending, label="Cutting clips")
            self._clip_bar.__enter__()

    def compiling(self, done: int, total: int) -> None:
        self._step("_compile_bar", "Making the compilation", done, total)

    def writing(self, done: int, total: int) -> None:
        self._step("_write_bar", "Writing outputs", done, total)

    def _step(self, name: str, label: str, done: int, total: int) -> None:
        """The bar ``name`` (``label``) at ``done`` of ``total``: opened at its first step,
        the bars before it closed (the clips' is at its end), and closed at its last."""
        bar = getattr(self, name)
        if bar is None:
            self._close_bars()
            if not self.enabled:
                return
            bar = progress_bar(length=total, label=label)
            bar.__enter__()
            setattr(self, name, bar)
        bar.update(done - bar.pos)
        if done >= total:
            self._close_bars()

    def close(self) -> None:
        """Finish any bar still drawing."""
        self._close_bars()

    def _close_bars(self) -> None:
        for name in ("_bar", "_clip_bar", "_compile_bar", "_write_bar"):
            bar = getattr(self, name)
            if bar is not None:
                bar.__exit__(None, None, None)
                setattr(self, name, None)
