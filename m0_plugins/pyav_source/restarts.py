"""The parts of an MPEG-TS whose timestamps start again (a stream that restarted, recordings
joined with ``cat``), so a clip is cut from the part its window lies in.

m0's sources place the audio after such a jump back where the audio before it ended, as
ffmpeg's own decode of the file does: the recording's time runs on. But ffmpeg's seek
(``-ss``) looks a time up by the timestamps, which the parts share: a window after a restart,
and one before it, landed in whichever part held those timestamps, or past every one (a clip
of a second or two of the wrong place, or none). Each part is read on its own instead, through
FFmpeg's ``subfile`` protocol (a byte range of the file), in which its timestamps only grow;
a time on the players' timeline is :attr:`Part.shift` seconds later than in its part.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from m0core.media.ffmpeg import byte_range_input
from m0core.model import MediaInfo

from . import mpegts
from .mpegts import CONTAINER, PACKET, SYNC

#: Bytes before a part's first packet in which its program tables (PAT) are looked for.
TABLES_BEFORE = 64 * PACKET


@dataclass(frozen=True)
class Part:
    """A stretch of the file whose timestamps do not go back."""

    #: Byte offset of its first packet (its program table's, when one comes just before).
    begin: int
    #: Byte offset where the next part begins; ``None``: the end of the file.
    end: int | None
    #: Seconds into the recording (players' time) of its time 0 as ffmpeg counts it in the
    #: part alone (from its earliest timestamp).
    shift: float
    #: Seconds into the recording at which its audio starts.
    start: float

    def source(self, path: str | os.PathLike) -> str:
        """The ffmpeg (and PyAV) input that reads this part of the file ``path``."""
        return byte_range_input(path, self.begin, self.end)


def parts(media: MediaInfo, stopped: Callable[[], bool] | None = None) -> list[Part]:
    """The parts of ``media`` (:class:`Part`, in file order) when it is an MPEG-TS whose
    timestamps go back by more than :data:`~m0_plugins.pyav_source.demux.RESET` seconds;
    ``[]`` for any other file (a single part: cut as it is), one whose path the ``subfile``
    protocol cannot name, what is not a regular file (a pipe can be read once only) or what
    FFmpeg cannot read (then ffmpeg cuts it as it is, and says what is wrong). Reads the
    file's packets (no decoding), once per process while the file is unchanged: its clips
    and its report's pictures ask in turn. ``stopped()`` true (the run was cancelled) stops
    the reading: ``[]``, and nothing is kept."""
    path = os.fspath(media.path)
    if media.container != CONTAINER or ",," in path or not os.path.isfile(path):
        return []
    import av

    try:
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
        with _lock:
            found = _read.get(key)
        if found is None and not _may_go_back(path, stat.st_size, media.duration):
            found = ()  # a plain file, seen from its timestamps every few seconds
        if found is None:
            found = _scan(path, stopped or (lambda: False))
            if found is None:
                return []
            with _lock:
                if len(_read) >= 8:
                    _read.clear()
                _read[key] = found
        return list(found)
    except (av.FFmpegError, OSError, ValueError):
        return []


#: Seconds of the recording (by bytes) between the places where a TS's audio timestamps are
#: looked at before its packets are all read: a jump back by more than that is seen there.
LOOK_EVERY = 10.0
#: Bytes read at a place to find an audio packet's timestamp (up to 16 times as many).
LOOK_BYTES = 1 << 16


def _may_go_back(path: str, size: int, duration: float | None) -> bool:
    """Whether the audio timestamps of the TS ``path`` may go back: looked at every
    :data:`LOOK_EVERY` s of the file (its declared ``duration`` over its ``size``), the first
    one at each place goes back from the one before by more than
    :data:`~m0_plugins.pyav_source.demux.RESET` (not counting the clock's wrap), or a place
    says nothing (no timestamp near it, packets that are not 188 bytes, no program map, no
    duration): only then are all the packets read (:func:`_scan`). A few MB for 6 hours,
    where reading the packets took 8 s."""
    from .demux import RESET

    if not duration or duration <= 0:
        return True
    with open(path, "rb") as f:
        try:
            streams = mpegts.program(f)
        except mpegts.Unknown:
            return True
        pid = next((s.pid for s in streams if not s.video), None)
        if pid is None:
            return True
        step = max(LOOK_BYTES, int(size * LOOK_EVERY / duration)) // PACKET * PACKET
        before = None
        for offset in range(0, size, step):
            pts = _first_pts(f, offset, pid)
            if pts is None:
                if offset + 16 * LOOK_BYTES >= size:
                    break  # the file's end may hold none
                return True
            back = (before - pts) % (1 << 33) if before is not None else 0
            if RESET * mpegts.CLOCK < back < 1 << 32:  # (more is a wrap of the clock: on)
                return True
            before = pts
    return False


def _first_pts(f, offset: int, pid: int) -> int | None:
    """The PTS of the first PES packet of ``pid`` that starts at or after ``offset`` (a
    packet's start) within 16 × :data:`LOOK_BYTES`; ``None`` if none does or the packets
    there are not in sync."""
    f.seek(offset)
    for _ in range(16):
        block = f.read(LOOK_BYTES // PACKET * PACKET)
        count = len(block) // PACKET
        if not count:
            return None
        rows = np.frombuffer(block, np.uint8, count * PACKET).reshape(count, PACKET)
        if not (rows[:, 0] == SYNC).all():
            return None
        pids = ((rows[:, 1].astype(np.int64) & 0x1F) << 8) | rows[:, 2]
        for i in np.flatnonzero((pids == pid) & ((rows[:, 1] & 0x40) != 0)).tolist():
            control = (int(rows[i, 3]) >> 4) & 3
            begin = 4 + (1 + int(rows[i, 4]) if control & 2 else 0)
            if control & 1 and begin < PACKET:
                pts, _ = mpegts.pes(bytes(rows[i, begin:]))
                if pts is not None:
                    return pts
    return None


#: The parts read in this process, by (path, size, modification time).
_read: dict[tuple[str, int, int], tuple[Part, ...]] = {}
_lock = threading.Lock()
#: Packets read between two looks at whether the reading is to stop.
_LOOK_EVERY = 2000


def _scan(path: str, stopped: Callable[[], bool]) -> tuple[Part, ...] | None:
    """:func:`parts` of the file ``path``, read from its packets; ``None`` if ``stopped()``."""
    import av

    from m0core.media.audio import WRAPPED

    from .demux import RESET

    found: list[dict] = []  # per part: byte offset, first times, the audio's first and end
    with av.open(path) as container:
        streams = [s for s in container.streams if s.type in ("audio", "video")]
        audio = next((s for s in streams if s.type == "audio"), None)
        if audio is None:
            return ()
        origin = (container.start_time or 0) / 1_000_000
        last: dict[int, float] = {}
        for n, packet in enumerate(container.demux(streams)):
            if n % _LOOK_EVERY == 0 and stopped():
                return None
            if packet.pts is None or packet.pos is None or packet.pos < 0:
                continue
            t = float(packet.pts * packet.time_base)
            index = packet.stream.index
            # back, or so far on that FFmpeg took a restart for the clock's wrap
            if not found or (index in last and not -RESET <= t - last[index] <= WRAPPED):
                found.append({"pos": packet.pos, "first": t, "audio": None, "audio_end": None,
                              "tail": packet.pos})
                last = {}
            part = found[-1]
            last[index] = max(t, last.get(index, t))
            part["first"] = min(part["first"], t)
            part["pos"] = min(part["pos"], packet.pos)  # packets come in their streams' order
            part["tail"] = max(part["tail"], packet.pos)
            if packet.stream.index == audio.index:
                if part["audio"] is None:
                    part["audio"] = t
                end = t + float((packet.duration or 0) * packet.time_base)
                part["audio_end"] = max(part["audio_end"] or end, end)
    if len(found) < 2 or any(p["audio"] is None for p in found):
        return ()
    result = []
    start = found[0]["audio"] - origin
    with open(path, "rb") as fh:
        for i, part in enumerate(found):
            begin = 0 if i == 0 else _tables_before(fh, part["pos"], found[i - 1]["tail"])
            if result:
                result[-1] = Part(result[-1].begin, begin, result[-1].shift, result[-1].start)
            result.append(Part(begin, None, start - (part["audio"] - part["first"]), start))
            start += part["audio_end"] - part["audio"]
    return tuple(result)


def part_of(found: list[Part], time: float) -> Part | None:
    """The part of ``found`` that a window starting at ``time`` s lies in (``None``: none);
    its clip ends where the part does."""
    inside = [p for p in found if p.start <= time]
    return inside[-1] if inside else (found[0] if found else None)


def _tables_before(fh, pos: int, after: int) -> int:
    """The offset of the last program table (PID 0) packet before ``pos`` and after the
    packet at ``after`` (the previous part's last), else ``pos``: where a demuxer starting
    there learns the part's streams before its first packet."""
    low = max(after + PACKET, pos - TABLES_BEFORE)
    if low >= pos:
        return pos
    fh.seek(low)
    data = fh.read(pos - low)
    offset = len(data) - PACKET
    while offset >= 0:
        if data[offset] == SYNC and ((data[offset + 1] & 0x1F) << 8 | data[offset + 2]) == 0:
            return low + offset
        offset -= PACKET
    return pos
