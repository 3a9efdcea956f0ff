"""Encoder ``ffmpeg``: cut clips in parallel ffmpeg processes, each written atomically."""

from __future__ import annotations

import errno
import math
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from m0core import checks
from m0core.checks import whole
from m0core.errors import InputError, OptionError, OutputError
from m0core.media.ffmpeg import DISK_FULL, child, disk_full, ffmpeg_exe, reason
from m0core.model import ClipResult, Compilation, Highlight, MediaInfo
from m0core.outputs import temp_name, temp_prefix
from m0core.shortform import ShortForm
from m0core.stops import held_signals
from m0core.workers import killed_by, stop_process

from . import compilation as comp
from .command import CUTS, clip_command, sound_graph
from .keyframes import CopiedStreams, Seek, copied_start, copied_streams, seek_point
from .naming import clip_extension, clip_name, renumbered
from .shortform import (
    CORRECTIONS,
    SILENCE_LUFS,
    TOLERANCE_LU,
    audio_graph,
    corrected_gain,
    frame_size,
    gain_to,
    integrated_loudness,
    loudness_command,
    video_graph,
    video_size,
)
from .smart import smart_commands

T = TypeVar("T")

#: The error of every clip not made because the output folder's disk is full: the first
#: clip that finds it full stops the others from starting (each would start an ffmpeg on the
#: input only to fail the same way).
FULL = f"the output folder's disk is full ({DISK_FULL})"


def _holds_nothing(clip: Path) -> bool:
    """Whether the MP4/MOV ``clip`` that ffmpeg wrote (and said it made) has no track at all:
    a window its ``-ss`` could not find (a recording whose timestamps start again) gives a
    file of a few hundred bytes with neither picture nor sound. Read from its boxes; a WAV
    whose samples are none (cut from a WAV that has none) holds nothing too; other containers,
    and an MP4 the reader does not read, are taken as made."""
    from m0_plugins.pyav_source import mp4

    if _wav_without_samples(clip):
        return True
    try:
        if not mp4.looks_like_mp4(clip):
            return False
        movie = mp4.open_movie(clip, 0)
    except (mp4.Unsupported, OSError):
        return False
    return not movie.tracks and movie.video_trak is None


def _wav_without_samples(clip: Path) -> bool:
    """Whether ``clip`` is a RIFF WAV whose ``data`` chunk is empty or missing (a header of
    some 80 bytes)."""
    with clip.open("rb") as fh:
        head = fh.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        while len(chunk := fh.read(8)) == 8:
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                return size == 0
            fh.seek(size + size % 2, os.SEEK_CUR)
    return True


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
    short_form:
        Reframing, loudness and fades of short-form clips (:class:`~m0core.shortform.
        ShortForm`); when it asks for anything, every clip is re-encoded (``accurate``).
        Reframing needs video: an audio-only ``media`` is an :class:`InputError`.
    audio_track:
        The audio track analysed (a number from 1, or ``"all"``): the sound of re-encoded
        short-form clips, and what their loudness is measured on (``"all"``: every track
        mixed). Copied and ``accurate`` clips keep every track.

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
        short_form: ShortForm | None = None,
        audio_track: int | str = 1,
    ) -> None:
        if cut not in CUTS:
            raise OptionError(f'cut must be one of {", ".join(CUTS)}, not "{cut}"')
        workers = whole("workers", (os.cpu_count() or 1) if workers is None else workers, low=1)
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise OptionError(f"timeout must be a number of seconds above 0, not {timeout!r}")
        short = short_form or ShortForm()
        if not isinstance(short, ShortForm):
            raise OptionError(f"short_form must be a ShortForm, not {short_form!r}")
        if short.aspect is None:  # the source's shape: nothing to fit, only to scale
            short = replace(short, fit="crop")
        self.short = short
        self.audio_track = checks.audio_track(audio_track)
        self.frame: tuple[int, int] | None = None
        if short.reframes:
            if not media.has_video:
                raise InputError(f"{media.path}: has no video to reframe (--aspect/--height "
                                 "need a video input)")
            try:
                self.frame = frame_size(short, video_size(media.path))
            except Exception as exc:  # PyAV raises its own error types
                raise InputError(f"{media.path}: cannot read the video's size ({exc})") from None
        if short.active:
            cut = "accurate"
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
        self._full = False  # a clip found the disk full: the rest are not started
        self._submitted = 0
        self._parts_lock = threading.Lock()
        self._found_parts: list | None = None  # restarts.Part

    def submit(self, highlight: Highlight) -> Future[ClipResult]:
        """Queue the clip of ``highlight``; the future gives its :class:`ClipResult`.

        A highlight without an index (0) is numbered by its submission order.
        """
        with self._lock:
            self._submitted += 1
            number = highlight.index if highlight.index > 0 else self._submitted
        name = clip_name(highlight, self.ext, number)
        return _submit(self._pool, self._run, highlight, name)

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

    def renumber(self, clips: list[ClipResult], count: int) -> list[ClipResult]:
        """``clips`` with the made ones renamed for a run of ``count`` highlights: their
        numbers padded to its width (``001_…`` from 100 on, see
        :func:`~m0_plugins.ffmpeg_encoder.clip_name`), so that they sort in order; a clip that
        cannot be renamed fails. Call it when every clip is done: the run's count is known
        only then (clips are cut while the rest of the file is analysed)."""
        renamed = []
        for clip in clips:
            path = Path(clip.path) if clip.ok and clip.path else None
            if path is not None and path.parent == self.out_dir \
                    and renumbered(path.name, count) != path.name:
                target = path.with_name(renumbered(path.name, count))
                try:
                    os.rename(path, target)
                except OSError as exc:
                    clip = replace(clip, path=None, ok=False,
                                   error=f"cannot rename the clip ({exc.strerror or exc})")
                else:
                    clip = replace(clip, path=str(target))
            renamed.append(clip)
        return renamed

    def __enter__(self) -> FFmpegEncoder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)

    def _run(self, highlight: Highlight, name: str) -> ClipResult:
        began = time.monotonic()
        final = self.out_dir / name
        partial = self.out_dir / temp_name(name)
        try:
            start = self._cut(highlight, partial)
            if partial.stat().st_size == 0 or _holds_nothing(partial):
                raise _Failed("ffmpeg wrote an empty clip")
            os.replace(partial, final)
        except (_Failed, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                self._full = True
                exc = _Failed(FULL)
            error = str(exc) if isinstance(exc, _Failed) else f"cannot write the clip ({exc})"
            return ClipResult(highlight, None, False, error, time.monotonic() - began)
        finally:
            _remove(partial)
        return ClipResult(highlight, str(final), True, None, time.monotonic() - began,
                          start=round(start, 3))

    def _cut(self, highlight: Highlight, partial: Path) -> float:
        """Run ffmpeg for one clip into ``partial`` and return where the clip begins in the
        recording (:attr:`ClipResult.start`); raise :class:`_Failed` with the reason."""
        start, end = highlight.start, highlight.end
        if not (math.isfinite(start) and math.isfinite(end)):
            raise _Failed("invalid clip window")
        start = max(start, 0.0)
        if end - start <= 0:
            raise _Failed("empty clip window")
        duration = self.media.duration
        if duration is not None and start >= duration:
            raise _Failed(f"clip window starts at {start:.1f} s, after the end ({duration:.1f} s)")
        from m0_plugins.pyav_source.restarts import part_of

        part = part_of(self._parts(), start)
        if part is not None:  # a restarted TS: cut from the part the window is in
            return part.shift + self._cut_from(
                replace(self.media, path=part.source(self.media.path),
                        duration=None if duration is None else duration - part.shift),
                start - part.shift, end - part.shift, partial)
        if self.cut == "smart":  # never with short-form clips: those are re-encoded
            self._smart_cut(start, end, partial)
            return start
        return self._cut_from(self.media, start, end, partial)

    def _cut_from(self, media: MediaInfo, start: float, end: float, partial: Path) -> float:
        """Cut ``[start, end]`` s of ``media`` (the recording, or a part of it read through
        its own input) into ``partial`` with ffmpeg; return where the clip begins in it."""
        duration = media.duration
        seek = seek_point(media, start)
        own_input = media is not self.media  # a part's path is its ffmpeg input
        with self._window(seek.at if seek else start, end) as window:
            source = media.path if own_input else window
            if self.short.active:
                self._short_cut(media, start, (end if duration is None else min(end, duration))
                                - start, partial, seek, source)
            else:  # a part is cut accurately where smart was asked (smart reads the file)
                cut = "accurate" if own_input and self.cut == "smart" else self.cut
                self._ffmpeg(clip_command(media, start, end - start, partial, cut,
                                          seek=seek, source=source))
                if cut == "copy":  # what the seek may have put before the window
                    self._recut(media, start, end, partial, seek, source,
                                copied_streams(partial, end - start))
        if self.cut == "copy" and not self.short.active:
            return copied_start(media, start, seek, partial, end)
        return start

    def _recut(self, media: MediaInfo, start: float, end: float, partial: Path,
               seek: Seek | None, source: str, streams: CopiedStreams) -> None:
        """Copy the window again where its first copy began before it (``streams``): without
        the audio tracks that ended before it, or as its sound alone after the picture ended
        (read from the start: a seek lands on the picture's last keyframe)."""
        tracks = streams.tracks
        if tracks is not None:
            self._ffmpeg(clip_command(media, start, end - start, partial, "copy", seek=seek,
                                      source=source, tracks=tracks))
        if streams.picture_ended:
            self._ffmpeg(clip_command(media, start, end - start, partial, "copy",
                                      source=source, tracks=tracks, sound_only=True))

    def _parts(self) -> list:
        """The parts of a restarted MPEG-TS (:mod:`~m0_plugins.pyav_source.restarts`),
        read once, by the first clip that asks."""
        from m0_plugins.pyav_source import restarts

        with self._parts_lock:
            if self._found_parts is None:
                self._found_parts = restarts.parts(self.media, lambda: self._cancelled)
            return self._found_parts

    def _smart_cut(self, start: float, end: float, partial: Path) -> None:
        """A smart cut (:mod:`~m0_plugins.ffmpeg_encoder.smart`), else an accurate one."""
        with tempfile.TemporaryDirectory(dir=self.out_dir, prefix=temp_prefix(),
                                         suffix="-smart") as work, \
                self._window(start, end) as source:
            # the smart cut reads the packets itself; where it cannot cut, the accurate way
            # needs the seek point (the packets read again: a fallback, not every clip)
            commands = smart_commands(self.media, start, end - start, partial, Path(work),
                                      source=source)
            for cmd in commands or [clip_command(self.media, start, end - start, partial,
                                                 "accurate", seek=seek_point(self.media, start),
                                                 source=source)]:
                self._ffmpeg(cmd)

    @contextmanager
    def _window(self, start: float, end: float) -> Iterator[str | None]:
        """The ffmpeg input that reads an MP4, MOV or M4A through a header that holds only
        the samples around ``[start, end]`` s (:mod:`~m0_plugins.ffmpeg_encoder.window`), or
        a fragmented one as its first fragments, those around the window and stand-ins for
        the rest (:mod:`~m0_plugins.ffmpeg_encoder.fragments`): ffmpeg makes the same clip,
        in constant memory. Their files go to a temporary folder in ``out_dir`` for the
        block; ``None`` (the file) for another file, or one neither handles."""
        from m0_plugins.pyav_source import mp4

        from .fragments import fragment_input, fragment_parts
        from .window import Unsupported, header_input, window_header

        if self.media.container != mp4.CONTAINER:
            yield None
            return
        header = parts = None
        try:
            header = window_header(self.media.path, start, end)
        except (Unsupported, OSError):
            try:
                parts = fragment_parts(self.media.path, start, end)
            except (Unsupported, OSError):  # ffmpeg reads the file, and says what is wrong
                yield None
                return
        with tempfile.TemporaryDirectory(dir=self.out_dir, prefix=temp_prefix(),
                                         suffix="-window") as work:
            try:
                if parts is not None:
                    source = fragment_input(parts, self.media.path, Path(work))
                else:
                    head = Path(work) / "head.mp4"
                    head.write_bytes(header)
                    source = header_input(head, self.media.path)
            except Unsupported:
                source = None
            yield source

    def _short_cut(self, media: MediaInfo, start: float, length: float, partial: Path,
                   seek: Seek | None, source: str | None = None) -> None:
        """A short-form clip of ``media``: measure the window's loudness (when asked), then
        re-encode it through the reframing, fade and loudness filters (the input sought to
        ``seek``, see :func:`~m0_plugins.ffmpeg_encoder.clip_command`; read from ``source``
        if given)."""
        gain = None if self.short.loudness is None else self.loudness_gain(start, length,
                                                                            source)
        self._ffmpeg(clip_command(
            media, start, length, partial, "accurate",
            video_graph=video_graph(self.short, self.frame, length),
            audio_filter=audio_graph(self.short, length, gain, self.media.sample_rate),
            seek=seek, source=source, audio_track=self.audio_track))

    def loudness_gain(self, start: float, length: float, source: str | None = None) -> float:
        """The static gain (dB) that brings the clip window of ``length`` s from ``start`` s
        to the short-form loudness target through the limiter: the window measured as it is,
        then through the gain and the limiter, the gain corrected until within
        ``TOLERANCE_LU`` (at most ``CORRECTIONS`` times, each measured; else the gain measured
        nearest the target). Needs a loudness target. ``source``: the ffmpeg input that reads
        the recording, if not its file."""
        target = self.short.loudness
        measured = self._loudness(start, length, None, source)
        gain = gain_to(target, measured)
        if measured <= SILENCE_LUFS:
            return gain
        tries: list[tuple[float, float]] = []
        for _ in range(1 + CORRECTIONS):
            got = self._loudness(start, length, gain, source)
            if abs(got - target) <= TOLERANCE_LU:
                return gain
            tries.append((gain, got))
            gain = corrected_gain(target, tries)
        # none close enough: the gain measured nearest the target (loudness need not grow
        # with the gain: lifted over the gate, a quiet bed counts and the limited burst less)
        return min(tries, key=lambda t: abs(t[1] - target))[0]

    def _loudness(self, start: float, length: float, gain: float | None,
                  source: str | None = None) -> float:
        """The integrated loudness of the clip window through its audio filters."""
        text = self._ffmpeg([ffmpeg_exe(), *loudness_command(
            self.media.path, start, length, self.short, gain, self.media.sample_rate,
            source, sound_graph(self.audio_track, len(self.media.tracks)))])
        measured = integrated_loudness(text)
        if measured is None:
            raise _Failed("could not measure the clip's loudness")
        return measured

    def compile(self, clips: list[ClipResult]) -> Compilation:
        """Join the made ``clips`` in time order into ``compilation.mp4`` (``.m4a`` for
        audio-only media) in ``out_dir``: crossfaded by the short-form ``fade``, a chapter per
        clip, written atomically, killed after ``timeout`` × the number of clips.

        Call it after every clip is done. A failure is a :class:`Compilation` with ``ok``
        false and the reason; no clip at all gives ``ok`` false with no error.
        """
        began = time.monotonic()
        made = sorted((c for c in clips if c.ok and c.path), key=lambda c: c.highlight.start)
        if not made:
            return Compilation(None, False)
        final = self.out_dir / comp.compilation_name(self.media.has_video)
        partial = self.out_dir / temp_name(final.name)
        try:
            with tempfile.TemporaryDirectory(dir=self.out_dir, prefix=temp_prefix(),
                                             suffix="-compilation") as work:
                durations, fade = self._join(made, partial, Path(work))
            os.replace(partial, final)
        except (_Failed, OSError) as exc:
            error = str(exc) if isinstance(exc, _Failed) else f"cannot write it ({exc})"
            return Compilation(None, False, error=f"compilation: {error}",
                               seconds=time.monotonic() - began)
        except Exception as exc:  # PyAV cannot read a clip
            return Compilation(None, False, error=f"compilation: cannot read a clip ({exc})",
                               seconds=time.monotonic() - began)
        finally:
            _remove(partial)
        starts = comp.offsets(durations, fade)
        total = starts[-1] + durations[-1]
        return Compilation(str(final), True, tuple(c.highlight.index for c in made),
                           tuple(zip(starts, [*starts[1:], total], strict=True)), total,
                           seconds=time.monotonic() - began)

    def _join(self, made: list[ClipResult], partial: Path,
              work: Path) -> tuple[list[float], float]:
        """Write the compilation of ``made`` to ``partial`` (see
        :mod:`~m0_plugins.ffmpeg_encoder.compilation`), its pieces in ``work``; return the
        clips' durations and the fade used."""
        paths = [c.path for c in made]
        infos = [comp.clip_info(p, self.media.has_video) for p in paths]
        durations = [d for d, _ in infos]
        # a clip of sound alone (its window after the picture ends): the sound of them all
        rate = infos[0][1] if all(r is not None for _, r in infos) else None
        fade = min([self.short.fade, *(d / 2 for d in durations)])
        metadata, listing = work / "chapters.txt", work / "pieces.txt"
        metadata.write_text(comp.metadata_text([c.highlight for c in made], durations, fade),
                            encoding="utf-8")
        # the sound analysed: a short-form clip's only track, else the clips keep every one
        sound = (1, 1) if self.short.active else (self.audio_track, len(self.media.tracks))
        if comp.joins_by_copy(paths, fade) and (rate is not None or not self.media.has_video):
            self._ffmpeg(comp.concat_command(paths, listing, metadata, partial, *sound),
                         scale=len(made))
            return durations, fade
        if rate is None:  # audio only: one pass, the sound alone
            self._ffmpeg(comp.joined_command(None, paths, durations, fade, metadata, partial,
                                             *sound),
                         scale=len(made))
            return durations, fade
        pieces = comp.pieces(durations, fade, rate)
        outs = [work / f"piece{p.index:04d}.ts" for p in pieces]
        with ThreadPoolExecutor(self.workers, thread_name_prefix="m0-compilation") as pool:
            futures = [_submit(pool, self._ffmpeg, comp.piece_command(
                p, paths[p.index], paths[p.index + 1] if p.index + 1 < len(paths) else None,
                rate, out)) for p, out in zip(pieces, outs, strict=True)]
            try:
                for future in futures:
                    future.result()
            except BaseException as exc:
                if not isinstance(exc, Exception):  # interrupted: stop the running pieces
                    self.close(cancel=True)
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        listing.write_text(comp.listing_text(outs), encoding="utf-8")
        self._ffmpeg(comp.joined_command(listing, paths, durations, fade, metadata, partial,
                                         *sound),
                     scale=len(made))
        return durations, fade

    def _ffmpeg(self, cmd: list[str], scale: int = 1) -> str:
        """Run one ffmpeg command (killed on cancel or after ``scale`` × the timeout) and
        return its stderr; raise :class:`_Failed`."""
        timeout = None if self.timeout is None else self.timeout * scale
        with ExitStack() as stack:
            with self._lock:
                if self._cancelled:
                    raise _Failed("cancelled")
                if self._full:  # another ffmpeg would only open the input to fail the same way
                    raise _Failed(FULL)
                try:
                    proc, stderr = stack.enter_context(
                        child(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
                except OSError as exc:
                    raise _Failed(f"cannot start ffmpeg ({exc})") from None
                self._live.add(proc)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise _Failed(f"timed out after {timeout:g} s") from None
            finally:
                stop_process(proc)
                with self._lock:
                    self._live.discard(proc)
            if self._cancelled:
                raise _Failed("cancelled")
            if code != 0:
                text = stderr()
                if disk_full(text):
                    self._full = True
                    raise _Failed(FULL)
                if code < 0 and not text.strip():
                    raise _Failed(f"ffmpeg was killed by {killed_by(-code)}")
                raise _Failed(f"ffmpeg failed: {reason(text)}")
            return stderr()


def _submit(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: object) -> Future[T]:
    """``pool.submit(fn, *args)`` with Ctrl-C and SIGTERM held until it returns: one that came
    while the pool started a thread stopped it before the pool listed the thread, so the
    cancel that followed neither waited for it nor saw its ffmpeg, and m0 ended warning that
    ``m0-encoder_0`` still ran."""
    with held_signals():
        return pool.submit(fn, *args)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # pragma: no cover - the folder went away
        pass
