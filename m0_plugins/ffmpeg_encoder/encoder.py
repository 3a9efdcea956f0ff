"""Encoder ``ffmpeg``: cut clips in parallel ffmpeg processes, each written atomically."""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from m0core.checks import whole
from m0core.errors import OptionError, OutputError
from m0core.media.ffmpeg import child, ffmpeg_exe, reason, stop_process
from m0core.model import ClipResult, Highlight, MediaInfo
from m0core.outputs import temp_name, temp_prefix

from .command import CUTS, clip_command
from .naming import clip_extension, clip_name
from .smart import smart_commands


class _Failed(Exception):
    """One clip failed; the message is the ClipResult's error line."""


class FFmpegEncoder:
    """Cut one clip per highlight of ``media`` into ``out_dir``.

    Each clip is an ffmpeg process run by a thread of a pool of ``workers``. It is written to a
    hidden ``.partial-*`` file in ``out_dir`` and renamed onto its final name (see
    :func:`~m0_plugins.ffmpeg_encoder.clip_name`) only when ffmpeg succeeded, so a clip is
    complete or absent. A failing clip gives a failed :class:`ClipResult`; the others go on.

    Parameters
    ----------
    media:
        The probed input.
    out_dir:
        Folder of the clips, created if missing.
    workers:
        ffmpeg processes at once; ``None`` means one per CPU.
    cut:
        ``"copy"`` copies the streams (fast, the clip starts at the keyframe before the window);
        ``"accurate"`` re-encodes (H.264 ``veryfast`` CRF 20 + AAC 160k), frame-exact;
        ``"smart"`` re-encodes only the partial GOPs at both ends and copies the rest
        (frame-exact at near copy speed; see :mod:`~m0_plugins.ffmpeg_encoder.smart`).
    timeout:
        Seconds one clip may take before its ffmpeg is killed; ``None`` for no limit.

    Use it as a context manager, or call :meth:`close`; leaving the ``with`` block with an
    exception cancels what is unfinished.
    """

    def __init__(
        self,
        media: MediaInfo,
        out_dir: str | os.PathLike,
        *,
        workers: int | None = None,
        cut: str = "copy",
        timeout: float | None = 300.0,
    ) -> None:
        if cut not in CUTS:
            raise OptionError(f'cut must be one of {", ".join(CUTS)}, not "{cut}"')
        workers = whole("workers", (os.cpu_count() or 1) if workers is None else workers, low=1)
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise OptionError(f"timeout must be a number of seconds above 0, not {timeout!r}")
        self.media = media
        self.out_dir = Path(out_dir)
        self.cut = cut
        self.timeout = None if timeout is None else float(timeout)
        self.workers = workers
        self.ext = clip_extension(media, cut)
        ffmpeg_exe()  # no ffmpeg is an error now, not one per clip
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.out_dir}: cannot create the output folder ({exc})") from exc
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="m0-encoder")
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen] = set()
        self._cancelled = False
        self._submitted = 0

    def submit(self, highlight: Highlight) -> Future[ClipResult]:
        """Queue the clip of ``highlight``; the future gives its :class:`ClipResult`.

        A highlight without an index (0) is numbered by its submission order.
        """
        with self._lock:
            self._submitted += 1
            number = highlight.index if highlight.index > 0 else self._submitted
        name = clip_name(highlight, self.ext, number)
        return self._pool.submit(self._run, highlight, name)

    def close(self, cancel: bool = False) -> None:
        """Wait for every submitted clip, or with ``cancel`` stop them.

        Cancelling drops the queued clips (their futures are cancelled), kills the running
        ffmpeg processes (their results fail with ``cancelled``) and removes their partial files.
        Returns when no clip thread and no ffmpeg process is left.
        """
        if cancel:
            with self._lock:
                self._cancelled = True
                live = list(self._live)
            self._pool.shutdown(wait=False, cancel_futures=True)
            for proc in live:
                stop_process(proc)
        self._pool.shutdown(wait=True)

    def __enter__(self) -> FFmpegEncoder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)

    def _run(self, highlight: Highlight, name: str) -> ClipResult:
        began = time.monotonic()
        final = self.out_dir / name
        partial = self.out_dir / temp_name(name)
        try:
            self._cut(highlight, partial)
            if partial.stat().st_size == 0:
                raise _Failed("ffmpeg wrote an empty clip")
            os.replace(partial, final)
        except (_Failed, OSError) as exc:
            error = str(exc) if isinstance(exc, _Failed) else f"cannot write the clip ({exc})"
            return ClipResult(highlight, None, False, error, time.monotonic() - began)
        finally:
            _remove(partial)
        return ClipResult(highlight, str(final), True, None, time.monotonic() - began)

    def _cut(self, highlight: Highlight, partial: Path) -> None:
        """Run ffmpeg for one clip into ``partial``; raise :class:`_Failed` with the reason."""
        start, end = highlight.start, highlight.end
        if not (math.isfinite(start) and math.isfinite(end)):
            raise _Failed("invalid clip window")
        start = max(start, 0.0)
        if end - start <= 0:
            raise _Failed("empty clip window")
        duration = self.media.duration
        if duration is not None and start >= duration:
            raise _Failed(f"clip window starts at {start:.1f} s, after the end ({duration:.1f} s)")
        if self.cut != "smart":
            self._ffmpeg(clip_command(self.media, start, end - start, partial, self.cut))
            return
        with tempfile.TemporaryDirectory(dir=self.out_dir, prefix=temp_prefix(),
                                         suffix="-smart") as work:
            commands = smart_commands(self.media, start, end - start, partial, Path(work))
            for cmd in commands or [clip_command(self.media, start, end - start, partial,
                                                 "accurate")]:
                self._ffmpeg(cmd)

    def _ffmpeg(self, cmd: list[str]) -> None:
        """Run one ffmpeg command (killed on cancel or timeout); raise :class:`_Failed`."""
        with ExitStack() as stack:
            with self._lock:
                if self._cancelled:
                    raise _Failed("cancelled")
                try:
                    proc, stderr = stack.enter_context(
                        child(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
                except OSError as exc:
                    raise _Failed(f"cannot start ffmpeg ({exc})") from None
                self._live.add(proc)
            try:
                code = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                raise _Failed(f"timed out after {self.timeout:g} s") from None
            finally:
                stop_process(proc)
                with self._lock:
                    self._live.discard(proc)
            if self._cancelled:
                raise _Failed("cancelled")
            if code != 0:
                text = stderr()
                if code < 0 and not text.strip():
                    raise _Failed(f"ffmpeg was killed by signal {-code}")
                raise _Failed(f"ffmpeg failed: {reason(text)}")


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # pragma: no cover - the folder went away
        pass
