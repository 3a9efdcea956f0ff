"""Finding and calling ffmpeg: the binary, safe input arguments, probing, process cleanup.

The binary is the ``ffmpeg`` on PATH, else ``M0_FFMPEG``, else the one the ``imageio-ffmpeg``
wheel ships, so ``pip install`` alone gives a working tool. Probing parses ``ffmpeg -i``'s
stream summary, because the wheel ships no ffprobe.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from m0core.errors import EncodeError, InputError, M0Error
from m0core.model import MediaInfo


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary to use."""
    found = shutil.which("ffmpeg") or os.environ.get("M0_FFMPEG")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - a dependency
        raise M0Error("ffmpeg not found: install it or set M0_FFMPEG") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:  # pragma: no cover - broken wheel
        raise M0Error(f"ffmpeg not found: {exc}") from None


def input_arg(path: str | os.PathLike) -> str:
    """``path`` as an ffmpeg input that is never read as an option or a protocol.

    ``file:`` pins the file protocol, so ``-x.mp4`` or ``a:b.mp4`` or ``http:x`` stay files.
    """
    return "file:" + os.fspath(Path(path).absolute())


def base_command() -> list[str]:
    """The start of every ffmpeg command m0 runs: quiet, no stdin, errors only."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]


def check_input_file(path: str | os.PathLike) -> Path:
    """Reject what is plainly not a media file before starting ffmpeg."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a media file")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: permission denied")
    return p


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_INPUT = re.compile(r"^Input #0, ([^,]+(?:,[^,\s]+)*),? from", re.M)
_STREAM = re.compile(r"^\s*Stream #0:\d+[^:]*: (Audio|Video): ([^\s,]+)(.*)$", re.M)
_RATE = re.compile(r"(\d+) Hz")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6,
                    "6.1": 7, "7.1": 8, "octagonal": 8, "hexadecagonal": 16}
_CHANNELS = re.compile(r"(\d+) channels")


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read duration and stream layout of ``path`` with ``ffmpeg -i``.

    Raises :class:`InputError` for a file ffmpeg cannot open, with ffmpeg's reason.
    """
    p = check_input_file(path)
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", input_arg(p)],
        capture_output=True, text=True, errors="replace", timeout=120,
    )
    text = proc.stderr
    if "Input #0" not in text:
        raise InputError(f"{p}: not a media file ffmpeg can read ({reason(text)})")
    return parse_probe(text, str(p), p.stat().st_size)


def parse_probe(text: str, path: str, size: int = 0) -> MediaInfo:
    """Build a :class:`MediaInfo` from the text ``ffmpeg -i`` prints."""
    duration = None
    m = _DURATION.search(text)
    if m:
        h, mnt, s = m.groups()
        duration = int(h) * 3600 + int(mnt) * 60 + float(s)
    container = None
    m = _INPUT.search(text)
    if m:
        container = m.group(1)
    audio = video = None
    sample_rate = channels = 0
    for kind, codec, rest in _STREAM.findall(text):
        if kind == "Video" and video is None and "attached pic" not in rest:
            video = codec
        elif kind == "Audio" and audio is None:
            audio = codec
            rate = _RATE.search(rest)
            sample_rate = int(rate.group(1)) if rate else 0
            channels = _channels(rest)
    return MediaInfo(
        path=path, duration=duration, sample_rate=sample_rate, channels=channels,
        has_audio=audio is not None, has_video=video is not None, audio_codec=audio,
        video_codec=video, container=container, size=size,
    )


def _channels(rest: str) -> int:
    m = _CHANNELS.search(rest)
    if m:
        return int(m.group(1))
    fields = [f.strip().split("(")[0] for f in rest.split(",")]
    for f in fields:
        if f in _LAYOUT_CHANNELS:
            return _LAYOUT_CHANNELS[f]
    return 0


def reason(text: str) -> str:
    """The most telling line of ffmpeg's stderr, without ``[tag @ 0x...]`` prefixes."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", ln).strip() for ln in text.splitlines()]
    generic = ("Error opening input file ", "Error opening input files:", "Conversion failed")
    lines = [ln for ln in lines if ln and not ln.startswith(generic)]
    if not lines:
        return "unknown error"
    return lines[0].removeprefix("Error opening input: ")


def stop_process(proc: subprocess.Popen) -> None:
    """Kill ``proc`` if it still runs, reap it and close its pipes, so no orphan is left.

    m0 stops ffmpeg only when its output is to be thrown away, so there is nothing to let it
    finish: SIGKILL, because an ffmpeg blocked writing to a full pipe ignores SIGTERM.
    """
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:  # pragma: no cover - raced with its exit
            pass
    proc.wait()
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            try:
                stream.close()
            except OSError:  # pragma: no cover
                pass


@contextmanager
def child(cmd: list[str], **popen: Any) -> Iterator[tuple[subprocess.Popen, Callable[[], str]]]:
    """Start ``cmd`` (``popen``: more :class:`subprocess.Popen` arguments) with its stderr in a
    temporary file, so a chatty process never stalls on a pipe nobody reads. Yields the
    process and a function that returns what it has written to stderr. However the block
    ends, the process is stopped and reaped (:func:`stop_process`): no orphan is left."""
    with tempfile.TemporaryFile() as errfile:
        proc = subprocess.Popen(cmd, stderr=errfile, **popen)

        def stderr() -> str:
            errfile.seek(0)
            return errfile.read().decode("utf-8", "replace")

        try:
            yield proc, stderr
        finally:
            stop_process(proc)


def run(args: list[str], *, timeout: float | None, what: str) -> None:
    """Run an ffmpeg command to completion; raise :class:`EncodeError` naming ``what`` on
    failure or timeout. ``subprocess.run`` kills and reaps ffmpeg on a timeout or an interrupt,
    so no process outlives the call."""
    try:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EncodeError(f"{what}: ffmpeg timed out after {timeout:g} s") from None
    except OSError as exc:
        raise EncodeError(f"{what}: cannot start ffmpeg ({exc})") from None
    if proc.returncode != 0:
        text = proc.stderr.decode("utf-8", "replace")
        raise EncodeError(f"{what}: ffmpeg failed: {reason(text)}")
