"""What an MPEG transport stream declares, read from its first and last packets without
FFmpeg's libraries.

A transport stream has no duration field: FFmpeg's demuxer estimates it from timestamps
(``estimate_timings_from_pts`` in libavformat): each stream starts at its first PES packet's
PTS; it reads the file's last 250 kB (once more from 500 kB before the end if a stream had no
packet there) and ends each stream at its latest PTS plus one frame; the duration runs from the
earliest start to the latest end. :func:`outline` does the same from the program map (PAT,
PMT), the first PES packet of each stream (its PTS, the audio's rate and channels from its
first frame header) and the same tail of the file. A stream or layout it does not know (a
second program, a data or subtitle stream, a codec it cannot name, timestamps that wrap)
gives ``None``: FFmpeg's demuxer then probes the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from m0core.model import AudioTrack, MediaInfo

from .declared import media_info

#: FFmpeg's name of the demuxer that reads these files (``MediaInfo.container``).
CONTAINER = "mpegts"
PACKET = 188
SYNC = 0x47
CLOCK = 90_000  # PTS ticks per second
#: FFmpeg's tail read for the duration (``DURATION_DEFAULT_MAX_READ_SIZE``) and its retries.
TAIL = 250_000
RETRIES = 6
#: Bytes read at most from the start to find the program map and each stream's first packet.
HEAD_LIMIT = 1 << 23

_VIDEO_TYPES = {0x01: "mpeg1video", 0x02: "mpeg2video", 0x10: "mpeg4", 0x1B: "h264",
                0x24: "hevc"}
_AUDIO_TYPES = {0x0F: "aac", 0x03: "mp3", 0x04: "mp3", 0x81: "ac3"}
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025,
              8000, 7350)
_MPEG_RATES = (44100, 48000, 32000)
_AC3_RATES = (48000, 44100, 32000)
_AC3_CHANNELS = (2, 1, 2, 3, 3, 4, 4, 5)
_ISO_639 = 0x0A
_WRAP = 1 << 33


class Unknown(Exception):
    """Something this reader does not describe: FFmpeg's demuxer will."""


@dataclass
class _Stream:
    """One elementary stream of the program: what its first packets say."""

    pid: int
    video: bool
    codec: str
    language: str | None = None
    start: int | None = None  # the first PES packet's PTS
    rate: int = 0
    channels: int = 0
    frame: int = 0  # samples per audio frame (FFmpeg's frame_size)
    duration: int | None = None  # FFmpeg's st->duration after the tail read
    last: int = 0  # FFmpeg's last_duration


def outline(path: Path, track: int = 1) -> MediaInfo | None:
    """What ``path`` declares if it is an MPEG-TS file (188-byte packets): its duration as
    FFmpeg estimates it, its audio track ``track`` and every audio track with the rate and
    channels of their first frame headers (a decoder may correct them), without loading
    FFmpeg's libraries. ``None`` for any other file or one this reader cannot describe."""
    try:
        with open(path, "rb") as f:
            head = f.read(PACKET * 4)
            if len(head) < PACKET * 4 or any(head[i] != SYNC for i in range(0, len(head), PACKET)):
                return None
            size = f.seek(0, 2)
            streams = program(f)
            _tail(f, size, streams)
    except (Unknown, OSError, IndexError, KeyError, ValueError, ZeroDivisionError):
        return None
    return _media_info(path, size, streams, track)


def _media_info(path: Path, size: int, streams: list[_Stream], track: int) -> MediaInfo | None:
    """The MediaInfo FFmpeg's demuxer gives, from its streams' starts and durations
    (``update_stream_timings``: times in microseconds, each rounded as FFmpeg rounds them)."""
    audio = [s for s in streams if not s.video]
    videos = [s for s in streams if s.video]
    if not 0 < track <= len(audio):
        return None
    started = [s for s in streams if s.start is not None]
    if not started:
        return None
    origin = min(_us(s.start) for s in started)
    ends = [_us(s.start) + _us(s.duration) for s in started if s.duration is not None]
    if not ends:
        return None
    micros = max([max(ends) - origin] + [_us(s.duration) for s in started
                                         if s.duration is not None])
    described = tuple(
        AudioTrack(number=n, codec=s.codec, channels=s.channels, sample_rate=s.rate,
                   start=max(0.0, float(Fraction(s.start, CLOCK)) - origin / 1_000_000)
                   if s.start is not None else 0.0,
                   title=None, language=s.language)
        for n, s in enumerate(audio, start=1))
    chosen = described[track - 1]
    if not chosen.sample_rate or not chosen.channels or micros <= 0:
        return None
    return media_info(path, duration=micros / 1_000_000, size=size, tracks=described,
                      track=track, video_codec=videos[0].codec if videos else None,
                      container=CONTAINER)


def _us(ticks: int) -> int:
    """``ticks`` of the 90 kHz clock in microseconds, rounded half away from zero
    (``av_rescale_q``)."""
    return (ticks * 1_000_000 + CLOCK // 2) // CLOCK


def program(f: BinaryIO) -> list[_Stream]:
    """The program's streams in PMT order (FFmpeg's stream order), each with its first PTS
    and, for audio, its first frame's rate and channels."""
    pmt_pid = None
    streams: dict[int, _Stream] | None = None
    for pid, start, payload in _packets(f, 0, HEAD_LIMIT):
        if pid == 0 and start and pmt_pid is None:
            programs = [(number, entry_pid) for number, entry_pid in _pat(payload) if number]
            if len(programs) != 1:
                raise Unknown("not one program")
            pmt_pid = programs[0][1]
        elif pid == pmt_pid and start and streams is None:
            streams = {s.pid: s for s in _pmt(payload)}
        elif streams is not None and start and pid in streams and streams[pid].start is None:
            stream = streams[pid]
            pts, data = pes(payload)
            if pts is None:
                continue
            stream.start = pts
            if not stream.video:
                _audio_header(stream, data)
            if all(s.start is not None for s in streams.values()):
                return list(streams.values())
    raise Unknown("no program map or a stream without packets near the start")


def _packets(f: BinaryIO, offset: int, limit: int) -> Iterator[tuple[int, bool, bytes]]:
    """``(pid, payload unit start, payload)`` of the packets from the first one at or after
    ``offset`` (FFmpeg's demuxer resynchronises there), ``limit`` bytes at most."""
    offset = -(-offset // PACKET) * PACKET
    f.seek(offset)
    read = 0
    while read < limit:
        block = f.read(min(1 << 20, limit - read) // PACKET * PACKET or PACKET)
        if len(block) < PACKET:
            return
        read += len(block)
        for at in range(0, len(block) - PACKET + 1, PACKET):
            if block[at] != SYNC:
                raise Unknown("lost packet sync")
            pid = ((block[at + 1] & 0x1F) << 8) | block[at + 2]
            control = (block[at + 3] >> 4) & 3
            if not control & 1:
                continue  # adaptation field only
            begin = at + 4 + (1 + block[at + 4] if control & 2 else 0)
            if begin < at + PACKET:
                yield pid, bool(block[at + 1] & 0x40), block[begin:at + PACKET]


def _section(payload: bytes) -> bytes:
    """The PSI section that starts in ``payload`` (after its pointer field), CRC left off."""
    body = payload[1 + payload[0]:]
    length = ((body[1] & 0x0F) << 8) | body[2]
    if 3 + length > len(body):
        raise Unknown("a section over several packets")
    return body[:3 + length - 4]


def _pat(payload: bytes) -> list[tuple[int, int]]:
    """``(program number, PMT PID)`` of the program association table."""
    section = _section(payload)
    if section[0] != 0x00:
        raise Unknown("not a PAT")
    return [((section[i] << 8) | section[i + 1], ((section[i + 2] & 0x1F) << 8) | section[i + 3])
            for i in range(8, len(section) - 3, 4)]


def _pmt(payload: bytes) -> list[_Stream]:
    """The elementary streams of the program map table."""
    section = _section(payload)
    if section[0] != 0x02:
        raise Unknown("not a PMT")
    at = 12 + (((section[10] & 0x0F) << 8) | section[11])
    streams = []
    while at + 5 <= len(section):
        kind = section[at]
        pid = ((section[at + 1] & 0x1F) << 8) | section[at + 2]
        info = ((section[at + 3] & 0x0F) << 8) | section[at + 4]
        descriptors = section[at + 5:at + 5 + info]
        at += 5 + info
        if kind in _VIDEO_TYPES:
            streams.append(_Stream(pid, True, _VIDEO_TYPES[kind]))
        elif kind in _AUDIO_TYPES:
            streams.append(_Stream(pid, False, _AUDIO_TYPES[kind], _language(descriptors)))
        else:  # a data, subtitle or private stream: FFmpeg's timings treat them apart
            raise Unknown(f"stream type {kind:#x}")
    if not streams:
        raise Unknown("an empty program")
    return streams


def _language(descriptors: bytes) -> str | None:
    """The ISO 639 language(s) as FFmpeg's demuxer joins them (``None`` for "und")."""
    at = 0
    while at + 2 <= len(descriptors):
        tag, length = descriptors[at], descriptors[at + 1]
        body = descriptors[at + 2:at + 2 + length]
        at += 2 + length
        if tag == _ISO_639 and len(body) >= 4 and body[0]:
            language = ",".join(body[i:i + 3].decode("latin-1")
                                for i in range(0, len(body) - 3, 4))
            return None if language == "und" else language
    return None


def pes(payload: bytes) -> tuple[int | None, bytes]:
    """The PTS of the PES packet that starts in ``payload`` (``None`` without one) and the
    start of its data."""
    if payload[:3] != b"\0\0\1" or len(payload) < 9:
        return None, b""
    data = payload[9 + payload[8]:]
    if not payload[7] & 0x80:
        return None, data
    p = payload[9:14]
    pts = ((p[0] >> 1) & 7) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1
    return pts, data


def _audio_header(stream: _Stream, data: bytes) -> None:
    """The rate, channels and samples per frame of the audio frame at ``data``'s start."""
    if stream.codec == "aac":
        if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF6 != 0xF0:
            raise Unknown("no ADTS header")
        index = (data[2] >> 2) & 0x0F
        config = ((data[2] & 1) << 2) | (data[3] >> 6)
        if index >= len(_AAC_RATES) or not config:
            raise Unknown("an AAC header without rate or channels")
        stream.rate, stream.channels, stream.frame = _AAC_RATES[index], (
            8 if config == 7 else config), 1024
    elif stream.codec == "mp3":
        if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
            raise Unknown("no MPEG audio header")
        version, layer, index = (data[1] >> 3) & 3, (data[1] >> 1) & 3, (data[2] >> 2) & 3
        if version == 1 or layer in (0, 3) or index == 3:
            raise Unknown("a reserved (or layer I) MPEG audio header")
        rate = _MPEG_RATES[index] >> {3: 0, 2: 1, 0: 2}[version]
        stream.codec = "mp3float" if layer == 1 else "mp2"
        stream.frame = 1152 if layer == 2 or version == 3 else 576
        stream.rate, stream.channels = rate, 1 if data[3] >> 6 == 3 else 2
    else:  # AC-3
        if len(data) < 8 or data[:2] != b"\x0b\x77" or data[4] >> 6 == 3 or data[5] >> 3 > 10:
            raise Unknown("no AC-3 header")
        bits = (data[6] << 8) | data[7]
        mode = bits >> 13
        skip = (2 if mode & 1 and mode != 1 else 0) + (2 if mode & 4 else 0) + (
            2 if mode == 2 else 0)
        lfe = (bits >> (12 - skip)) & 1
        stream.rate, stream.channels = _AC3_RATES[data[4] >> 6], _AC3_CHANNELS[mode] + lfe
        stream.frame = 1536


def _tail(f: BinaryIO, size: int, streams: list[_Stream]) -> None:
    """Each stream's duration as FFmpeg's ``estimate_timings_from_pts`` sets it: the latest
    PTS in the file's tail plus one frame, less its start."""
    by_pid = {s.pid: s for s in streams}
    frames = _frame_ticks(f, size, streams)
    found = False
    retry = 0
    while True:
        is_end = found
        offset = max(0, size - (TAIL << retry))
        limit = TAIL << max(retry - 1, 0)
        read = 0
        for pid, pts, length in _pes_packets(f, offset, size, by_pid):
            if read >= limit:
                break
            read += length
            stream = by_pid[pid]
            if pts is None or stream.start is None:
                continue
            if pts < stream.start - _WRAP // 2:
                raise Unknown("timestamps that wrap")
            duration = pts + frames[pid] - stream.start
            found = True
            if duration > 0:
                if (stream.duration is None or stream.last <= 0 or (
                        stream.duration < duration and abs(duration - stream.last) < 60 * CLOCK)):
                    stream.duration = duration
                stream.last = duration
        if not is_end:
            is_end = all(s.duration is not None for s in streams)
        retry += 1
        if is_end or not offset or retry > RETRIES:
            return


def _frame_ticks(f: BinaryIO, size: int, streams: list[_Stream]) -> dict[int, int]:
    """One frame of each stream in clock ticks, as FFmpeg computes a packet's duration: the
    audio's samples per frame; the video's frame rate (FFmpeg's estimate, a standard rate;
    here the one nearest the mean step between the tail's video timestamps)."""
    ticks = {s.pid: s.frame * CLOCK // s.rate for s in streams if not s.video}
    video: dict[int, list[int]] = {s.pid: [] for s in streams if s.video}
    if video:
        for pid, pts, _length in _pes_packets(f, max(0, size - 2 * TAIL), size, video):
            if pts is not None:
                video[pid].append(pts)
        for pid, times in video.items():
            ticks[pid] = _frame_step(sorted(set(times)))
    return ticks


#: Frame rates FFmpeg's estimate settles on: whole rates and the NTSC ones.
_RATES = [Fraction(n) for n in range(1, 241)] + [
    Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120, 240)]


def _frame_step(times: list[int]) -> int:
    """One frame in clock ticks, from sorted video timestamps: the mean step (a frame whose
    packet lies before the tail leaves a gap, left out) snapped to the nearest standard rate
    and rounded down, as ``av_rescale_rnd`` does."""
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if len(steps) < 4:
        raise Unknown("too few video frames to tell the frame rate")
    typical = sorted(steps)[len(steps) // 2]
    kept = [step for step in steps if step < 1.5 * typical]
    rate = CLOCK * len(kept) / sum(kept)
    nearest = min(_RATES, key=lambda r: abs(float(r) - rate))
    if abs(float(nearest) - rate) > 0.002 * rate:
        raise Unknown("a frame rate that is not a standard one")
    return CLOCK * nearest.denominator // nearest.numerator


def _pes_packets(f: BinaryIO, offset: int, size: int, wanted: dict
                 ) -> Iterator[tuple[int, int | None, int]]:
    """``(pid, PTS, payload bytes)`` of each whole PES packet of the ``wanted`` PIDs that
    starts after ``offset``, in the order FFmpeg's demuxer hands them on (when the next
    one of its PID starts, or at the end of the file)."""
    pending: dict[int, list] = {}
    for pid, start, payload in _packets(f, offset, size - offset + PACKET):
        if pid not in wanted:
            continue
        if start:
            if pid in pending:
                pts, length = pending.pop(pid)
                yield pid, pts, length
            pts, data = pes(payload)
            pending[pid] = [pts, len(data)]
        elif pid in pending:
            pending[pid][1] += len(payload)
    for pid, (pts, length) in pending.items():
        yield pid, pts, length
