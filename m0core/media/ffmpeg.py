"""Finding and calling ffmpeg: the binary, safe input arguments, probing, process cleanup.

The binary is ``M0_FFMPEG`` when set, else the ``ffmpeg`` on PATH, else the one the
``imageio-ffmpeg`` wheel ships (README's order), so ``pip install`` alone gives a working
tool. Probing parses ``ffmpeg -i``'s stream summary, because the wheel ships no ffprobe.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from m0core.errors import EncodeError, InputError, M0Error, shown_name
from m0core.media.ends import flv_cut_short
from m0core.media.framing import MP4_FIRST_BOXES, riff_chunks
from m0core.model import AudioTrack, MediaInfo
from m0core.workers import Child


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg program to use: ``M0_FFMPEG`` when set (it must name a program),
    else an ``ffmpeg`` on the PATH, else the one in the ``imageio-ffmpeg`` wheel."""
    chosen = os.environ.get("M0_FFMPEG")
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise M0Error(f"M0_FFMPEG={chosen}: no such program (unset it to use the ffmpeg "
                          "on your PATH, else the one m0 comes with)")
        return found
    found = shutil.which("ffmpeg")
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


def byte_range_input(path: str | os.PathLike, begin: int, end: int | None = None) -> str:
    """Bytes ``begin`` to ``end`` (``None``: the file's end) of the file ``path`` as one ffmpeg
    (and PyAV) input: FFmpeg's ``subfile`` protocol, whose options end at ``,,`` (a path
    holding that is a :class:`ValueError`)."""
    name = input_arg(path)
    if ",," in name:
        raise ValueError(f"the subfile protocol cannot name {name!r}")
    return f"subfile,,start,{begin},end,{end or 0},,:{name}"


def concat_input(inputs: list[str]) -> str:
    """ffmpeg inputs (:func:`input_arg`, :func:`byte_range_input`) read one after another as
    one: FFmpeg's ``concat`` protocol, which splits them at ``|`` (an input holding one is a
    :class:`ValueError`)."""
    if any("|" in each for each in inputs):
        raise ValueError("the concat protocol cannot name an input holding '|'")
    return "concat:" + "|".join(inputs)


#: Seconds a timestamp of a format ffmpeg treats as discontinuous (``AVFMT_TS_DISCONT``: an
#: MPEG-TS) may jump ahead and still be a gap on the players' timeline, where players keep
#: the position, rather than a discontinuity the ffmpeg program closes: its default, 10 s,
#: moved everything after a longer reconnect of a stream that much earlier. Jumps back are
#: closed whatever it is (the audio goes on where it was).
GAP_SECONDS = 86400
#: Options of every ffmpeg that reads a recording (:func:`base_command` has them): its times
#: are the players' (see :data:`GAP_SECONDS`), as m0 reports them.
PLAYERS_INPUT = ("-dts_delta_threshold", str(GAP_SECONDS))
#: Audio filter that places decoded audio by its timestamps: silence before a late start
#: (from time 0 of ffmpeg's output, the seek point) and in gaps (over 0.1 s).
PLAYERS_TIMELINE = "aresample=async=1:first_pts=0"


def base_command() -> list[str]:
    """The start of every ffmpeg command m0 runs: quiet, no stdin, errors only, its inputs
    read on the players' timeline (:data:`PLAYERS_INPUT`, a global option)."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *PLAYERS_INPUT]


def check_name(path: str | os.PathLike) -> None:
    """Reject a path m0 cannot record: a name that is not valid UTF-8 (a Latin-1 ``café.mp4``
    copied from an old disk or archive) cannot go into its caches, ledger or records; the
    :class:`InputError` shows it with ``�`` and asks for a rename. A UTF-8 name Python read in
    another encoding (``PYTHONUTF8=0`` in the C locale; the ``m0`` command runs itself in UTF-8
    mode there) is no fault of the name's: the error says how to run Python."""
    name = os.fspath(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = shown_name(name)
        try:
            name.encode("utf-8", "surrogateescape").decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{shown}: the file's name is not valid UTF-8; rename it") from None
        raise InputError(f"{shown}: Python reads file names as {sys.getfilesystemencoding()} "
                         "here, not UTF-8: run it with PYTHONUTF8=1") from None


def check_input_file(path: str | os.PathLike) -> Path:
    """Reject what is plainly not a media file before starting ffmpeg."""
    check_name(path)
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
_STREAM = re.compile(r"^\s*Stream #0:\d+(?:\[\w+\])?(?:\((\w+)\))?[^:]*: (Audio|Video): "
                     r"([^\s,]+)(.*)$", re.M)
_TITLE = re.compile(r"^\s+(title|name|handler_name)\s*: (.*)$", re.M)
_START = re.compile(r", start (-?\d+(?:\.\d+)?)")
_DEFAULT_HANDLERS = ("SoundHandler", "Sound Media Handler", "Core Media Audio")
_RATE = re.compile(r"(\d+) Hz")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6,
                    "6.1": 7, "7.1": 8, "octagonal": 8, "hexadecagonal": 16}
_CHANNELS = re.compile(r"(\d+) channels")


def probe(path: str | os.PathLike, audio_track: int | str = 1) -> MediaInfo:
    """Read duration and stream layout of ``path`` with ``ffmpeg -i``; the audio fields are
    those of ``audio_track`` (a number from 1, or ``"all"``: the first track's).

    Raises :class:`InputError` for a file ffmpeg cannot open, with ffmpeg's reason, or
    without such an audio track.
    """
    p = check_input_file(path)
    text = described(p)
    if "Input #0" not in text:
        raise unreadable(p, "ffmpeg", reason(text))
    info = parse_probe(text, str(p), p.stat().st_size, audio_track)
    check_track(p, info, audio_track)
    return info


def described(path: Path) -> str:
    """What ``ffmpeg -i`` says of ``path`` (its streams, tags and duration; ffmpeg's reason
    where it cannot read it)."""
    with child([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", input_arg(path)],
               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL) as (proc, stderr):
        proc.wait(timeout=120)
        return stderr()


def check_track(path: object, info: MediaInfo, audio_track: int | str) -> None:
    """Raise :class:`InputError` when ``info`` (a file with audio) has no ``audio_track``."""
    count = len(info.tracks)
    if not info.has_audio or not isinstance(audio_track, int) or audio_track <= count:
        return
    has = f"only {count} audio tracks" if count > 1 else "one audio track"
    raise InputError(f"{path}: has no audio track {audio_track} (it has {has}; "
                     "'m0 probe' lists them)")


def silent_track(info: MediaInfo, audio_track: int | str, what: str = "") -> str:
    """Words for audio found silent throughout, ``what`` after them, and where the file has
    other audio tracks the one to try: ``audio track 1 "Mix" is silent throughout{what} (the
    file has 2 audio tracks: try --audio-track 2, 'm0 probe' lists them)``; ``the audio is
    silent throughout{what}`` for the only track or every track mixed."""
    tracks = info.tracks
    if not isinstance(audio_track, int) or len(tracks) < 2 or audio_track > len(tracks):
        return f"the audio is silent throughout{what}"
    other = 2 if audio_track == 1 else 1
    return (f"audio {tracks[audio_track - 1].name()} is silent throughout{what} (the file has "
            f"{len(tracks)} audio tracks: try --audio-track {other}, 'm0 probe' lists them)")


def parse_probe(text: str, path: str, size: int = 0, audio_track: int | str = 1) -> MediaInfo:
    """Build a :class:`MediaInfo` from the text ``ffmpeg -i`` prints; its audio fields are
    those of ``audio_track`` (``"all"`` or a missing track: the first track's)."""
    duration = None
    m = _DURATION.search(text)
    if m:
        h, mnt, s = m.groups()
        duration = int(h) * 3600 + int(mnt) * 60 + float(s)
    container = None
    m = _INPUT.search(text)
    if m:
        container = m.group(1)
    m = re.search(r"Duration: [^\n]*, start: (-?\d+(?:\.\d+)?)", text)
    origin = float(m.group(1)) if m else 0.0
    video = None
    tracks: list[AudioTrack] = []
    matches = list(_STREAM.finditer(text))
    for i, match in enumerate(matches):
        language, kind, codec, rest = match.groups()
        if kind == "Video":
            if video is None and "attached pic" not in rest:
                video = codec
            continue
        block = text[match.end():matches[i + 1].start() if i + 1 < len(matches) else len(text)]
        titles = dict((k, v.strip()) for k, v in _TITLE.findall(block.split("Stream #")[0]))
        handler = titles.get("handler_name")
        rate = _RATE.search(rest)
        start = _START.search(rest)
        tracks.append(AudioTrack(
            number=len(tracks) + 1, codec=codec, channels=_channels(rest),
            sample_rate=int(rate.group(1)) if rate else 0,
            start=max(0.0, float(start.group(1)) - origin) if start else 0.0,
            title=titles.get("title") or titles.get("name")
            or (handler if handler not in _DEFAULT_HANDLERS else None),
            language=language if language not in (None, "und") else None))
    chosen = None
    if tracks:
        number = audio_track if isinstance(audio_track, int) else 1
        chosen = tracks[number - 1] if number <= len(tracks) else tracks[0]
    channels = chosen.channels if chosen else 0
    if audio_track == "all" and tracks:
        channels = max(t.channels for t in tracks)
    return MediaInfo(
        path=path, duration=players_duration(container, duration, origin, path,
                                             chosen.codec if chosen else None),
        sample_rate=chosen.sample_rate if chosen else 0,
        channels=channels, has_audio=chosen is not None, has_video=video is not None,
        audio_codec=chosen.codec if chosen else None, video_codec=video, container=container,
        size=size, tracks=tuple(tracks),
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


#: FFmpeg's names of the demuxer whose declared duration counts from 0, not from its start.
MATROSKA = "matroska,webm"
#: FFmpeg's name of the Ogg demuxer, which declares an Opus stream's duration from 0 too.
OGG = "ogg"


def players_duration(container: str | None, duration: float | None,
                     start: float, path: str | os.PathLike | None = None,
                     codec: str | None = None) -> float | None:
    """The length players show of a file whose demuxer (FFmpeg's ``container`` name) declares
    ``duration`` s and whose first timestamp is ``start`` s: the time from that start (m0's
    0) to the end. A Matroska/WebM file's Duration is where its segment ends, on a timeline
    from 0, and FFmpeg passes it on as it is: a file whose timestamps start at 7.5 s (cut
    from a longer recording with its times kept) played 7.5 s shorter than it declared. So
    does FFmpeg of an Ogg file whose audio (``codec``) is Opus and whose granule positions
    start late (a capture of a live stream). An FLV file at ``path`` cut short
    (:func:`flv_cut_short`) declares no length it has; a
    WAV file cut short declares, in its header, the whole recording's length, which FFmpeg
    gives up for that of the data there is: the header's is kept, so that the run finds the
    file cut short and says so (:func:`wav_declared`)."""
    from_zero = container == MATROSKA or (container == OGG and codec == "opus")
    if duration is not None and from_zero and start > 0:
        return max(duration - start, 0.0)
    if container == FLV and path is not None and flv_cut_short(path):
        return None
    if container == WAV and path is not None and duration is not None:
        return max(duration, wav_declared(path) or 0.0)
    return duration


#: FFmpeg's name of the WAV demuxer.
WAV = "wav"


def wav_declared(path: str | os.PathLike) -> float | None:
    """Seconds of audio the RIFF/WAVE header of ``path`` declares (its data chunk's size at
    its format's byte rate), or ``None`` (not such a file, or a size a writer that never
    finished left: 0 or all ones)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] != b"RIFF" or head[8:] != b"WAVE":
                return None
            rate = 0
            # the chunks before the data: fmt, LIST, fact, ... (their sizes as declared)
            for chunk in islice(riff_chunks(f, 12, sys.maxsize), 64):
                size = chunk.end - chunk.payload
                if chunk.kind == b"data":
                    return size / rate if rate and 0 < size < 0xFFFFFFFF else None
                if chunk.kind == b"fmt ":
                    f.seek(chunk.payload + 8)
                    rate = int.from_bytes(f.read(4), "little")
    except OSError:
        return None
    return None


#: FFmpeg's name of the FLV demuxer.
FLV = "flv"


#: What an MP4 or MOV without its moov (the index its writer puts last) is, and what may help.
NO_INDEX = ("its MP4 index is missing: the recording is incomplete (still being recorded, or "
            "a crash, a full disk, a stopped download); untrunc can rebuild the index from a "
            "healthy recording made with the same settings")
#: A text file under a media file's name: what a download that failed often leaves.
TEXT = ("it is text, not audio or video: a web page or an error message saved under a media "
        "file's name?")
#: What FFmpeg says of a file whose data is not of the format its name says (its reader was
#: chosen by the name): words of that format's insides, which tell a user nothing.
NOT_ITS_FORMAT = ("moov atom not found", "EBML header parsing failed",
                  "Failed to find two consecutive MPEG audio frames", "misdetection possible")


def begins_as_mp4(path: object) -> bool:
    """Whether the file at ``path`` begins with an MP4 or QuickTime box."""
    try:
        with open(os.fspath(path), "rb") as fh:  # type: ignore[arg-type]
            return fh.read(8)[4:] in MP4_FIRST_BOXES
    except (OSError, TypeError):
        return False


def holds_text(path: object) -> bool:
    """Whether the file at ``path`` begins as a text file does (printable UTF-8 or ASCII),
    which no recording does."""
    try:
        with open(os.fspath(path), "rb") as fh:  # type: ignore[arg-type]
            head = fh.read(512)
    except (OSError, TypeError):
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of the 512 bytes is text
        if exc.start < len(head) - 3:
            return False
        text = head[:exc.start].decode("utf-8")
    text = text.removeprefix("\ufeff")
    return bool(text.strip()) and all(c.isprintable() or c in "\t\n\r\f" for c in text)


def check_streams(path: object, media: MediaInfo) -> None:
    """Raise :class:`InputError` for ``media`` of neither audio nor video: not a media file,
    whatever FFmpeg guessed (it takes some random bytes, at a low score, for a lyrics file)."""
    if not media.has_audio and not media.has_video:
        raise unreadable(path, "m0", "neither audio nor video in it")


def unreadable(path: object, reader: str, why: str) -> InputError:
    """The error for a file ``reader`` (ffmpeg, m0) cannot open, FFmpeg saying ``why``, said
    for people: a missing moov is a recording stopped before its end (:data:`NO_INDEX`) only in
    a file that begins as an MP4 does; a text file saved as .mp4 (a downloader's '403
    Forbidden' page) was never a recording (:data:`TEXT`); FFmpeg's words of a format's insides
    (:data:`NOT_ITS_FORMAT`) say the file's data is not of the format its name says."""
    if "moov atom not found" in why and begins_as_mp4(path):
        why = NO_INDEX
    elif holds_text(path):
        why = TEXT
    elif any(words in why for words in NOT_ITS_FORMAT):
        suffix = Path(os.fspath(path)).suffix.lower()  # type: ignore[arg-type]
        why = (f"its data is not {suffix} data, whatever its name says" if suffix else
               "its data is of no format m0 knows")
    return InputError(f"{path}: not a media file {reader} can read ({why})")


def reason(text: str) -> str:
    """The most telling line of ffmpeg's stderr, without ``[tag @ 0x...]`` prefixes."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", ln).strip() for ln in text.splitlines()]
    generic = ("Error opening input file ", "Error opening input files:", "Conversion failed")
    lines = [ln for ln in lines if ln and not ln.startswith(generic)]
    if not lines:
        return "unknown error"
    return lines[0].removeprefix("Error opening input: ")


#: What ffmpeg and the OS say when a disk is full (``strerror(ENOSPC)``).
DISK_FULL = os.strerror(errno.ENOSPC)


def disk_full(text: str) -> bool:
    """Whether ffmpeg's stderr ``text`` says it stopped because the disk it wrote to is full."""
    return DISK_FULL in text


@contextmanager
def child(cmd: list[str], **popen: Any) -> Iterator[tuple[subprocess.Popen, Callable[[], str]]]:
    """Start ``cmd`` (``popen``: more :class:`subprocess.Popen` arguments) with its stderr in a
    temporary file, so a chatty process never stalls on a pipe nobody reads. Yields the
    process and a function that returns what it has written to stderr. However the block
    ends, the process is stopped and reaped (:func:`stop_process`), and if this process is
    killed (SIGKILL: no block ends) the kernel kills it (Linux,
    :func:`~m0core.workers.killed_with_parent`): no orphan is left. Every ffmpeg m0 runs is
    started here."""
    with Child(cmd, tied=True, **popen) as process:
        yield process.proc, process.stderr


#: Seconds :func:`run` waits, once ffmpeg has ended, for its last ``-progress`` lines to be told.
PROGRESS_TAIL = 5.0


def run(args: list[str], *, timeout: float | None, what: str,
        progress: Callable[[float], None] | None = None) -> None:
    """Run an ffmpeg command to completion; raise :class:`EncodeError` naming ``what`` on
    failure or timeout. ffmpeg is started by :func:`child`, so no process outlives the call.
    ``progress`` is told, from another thread, the seconds of output ffmpeg has written as it
    writes them (its ``-progress``, about twice a second); if it raises, ffmpeg is stopped and
    ``run`` raises the same exception."""
    if progress is not None:
        args = [args[0], "-progress", "pipe:1", "-nostats", *args[1:]]
    with ExitStack() as stack:
        try:
            proc, stderr = stack.enter_context(child(
                args, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if progress is None else subprocess.PIPE))
        except OSError as exc:
            raise EncodeError(f"{what}: cannot start ffmpeg ({exc})") from None
        reader, failed = None, []
        if progress is not None:
            import threading

            reader = threading.Thread(target=_tell_progress, args=(proc, progress, failed),
                                      name="m0-ffmpeg-progress", daemon=True)
            reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EncodeError(f"{what}: ffmpeg timed out after {timeout:g} s") from None
        if reader is not None:  # its last lines told (to 100 %) before the pipe is closed
            reader.join(PROGRESS_TAIL)
        if failed:  # the progress callback raised: ffmpeg was stopped for it
            raise failed[0]
        if code != 0:
            raise EncodeError(f"{what}: ffmpeg failed: {reason(stderr())}")


def _tell_progress(proc: subprocess.Popen, progress: Callable[[float], None],
                   failed: list[BaseException]) -> None:
    """Tell ``progress`` each ``out_time_us`` of the ``-progress`` lines ffmpeg ``proc``
    writes, in seconds, to their end (or until its pipe is closed). Where ``progress`` raises,
    stop ffmpeg and keep the exception in ``failed`` (else nothing would read the pipe, and
    ffmpeg would wait for it once full, until its timeout or for ever)."""
    try:
        for line in proc.stdout:
            key, _, value = line.partition(b"=")
            if key == b"out_time_us" and value.strip().isdigit():
                try:
                    progress(int(value) / 1e6)
                except BaseException as exc:  # raised again by run, in its caller's thread
                    failed.append(exc)
                    proc.kill()
                    return
    except (OSError, ValueError):  # closed: ffmpeg was stopped
        pass
