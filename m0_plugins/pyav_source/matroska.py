"""What a Matroska/WebM file declares, read from its EBML header without FFmpeg's libraries.

FFmpeg's matroska demuxer takes the file's duration from the Segment Info's Duration (scaled
by its TimestampScale), and each track's codec, rate, channels, name and language from its
TrackEntry; a track's start is its first block's timestamp. :func:`outline` reads the same
elements (the start of the file and its first clusters only), so a process that plans a run
can describe the file without loading a decoder. Anything it does not know (no Duration, a
codec it cannot name, the Tracks after the first Cluster) gives ``None``: FFmpeg's demuxer
then probes the file.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from m0core.media.ffmpeg import MATROSKA, players_duration
from m0core.media.framing import UNKNOWN, Unsupported, element_header, vint
from m0core.model import AudioTrack, MediaInfo

from .declared import media_info

#: FFmpeg's name of the demuxer that reads these files (``MediaInfo.container``).
CONTAINER = MATROSKA
#: The EBML magic every Matroska/WebM file starts with.
MAGIC = b"\x1a\x45\xdf\xa3"

_EBML, _DOCTYPE = 0x1A45DFA3, 0x4282
_SEGMENT, _INFO, _TRACKS, _CLUSTER = 0x18538067, 0x1549A966, 0x1654AE6B, 0x1F43B675
_TIMESTAMP_SCALE, _DURATION = 0x2AD7B1, 0x4489
_TRACK_ENTRY, _TRACK_NUMBER, _TRACK_TYPE, _CODEC_ID = 0xAE, 0xD7, 0x83, 0x86
_NAME, _LANGUAGE, _AUDIO, _RATE, _OUTPUT_RATE = 0x536E, 0x22B59C, 0xE1, 0xB5, 0x78B5
_CHANNELS, _BIT_DEPTH = 0x9F, 0x6264
_CLUSTER_TIMESTAMP, _SIMPLE_BLOCK, _BLOCK_GROUP, _BLOCK = 0xE7, 0xA3, 0xA0, 0xA1
_VIDEO, _AUDIO_TRACK = 1, 2
#: The largest Info or Tracks element read (real ones are a few kB).
_ELEMENT_LIMIT = 1 << 20
#: Bytes of clusters read at most to find every track's first block.
_CLUSTER_LIMIT = 1 << 22

#: Codec IDs to the decoder FFmpeg's demuxer picks (its codec context's name).
_AUDIO_CODECS = {"A_AAC": "aac", "A_AC3": "ac3", "A_EAC3": "eac3", "A_DTS": "dca",
                 "A_FLAC": "flac", "A_MPEG/L3": "mp3float", "A_MPEG/L2": "mp2",
                 "A_OPUS": "opus", "A_VORBIS": "vorbis", "A_TRUEHD": "truehd",
                 "A_ALAC": "alac"}
_PCM = {("A_PCM/INT/LIT", 16): "pcm_s16le", ("A_PCM/INT/LIT", 24): "pcm_s24le",
        ("A_PCM/INT/LIT", 32): "pcm_s32le", ("A_PCM/INT/BIG", 16): "pcm_s16be",
        ("A_PCM/INT/BIG", 24): "pcm_s24be", ("A_PCM/FLOAT/IEEE", 32): "pcm_f32le",
        ("A_PCM/FLOAT/IEEE", 64): "pcm_f64le"}
_VIDEO_CODECS = {"V_MPEG4/ISO/AVC": "h264", "V_MPEGH/ISO/HEVC": "hevc", "V_AV1": "av1",
                 "V_VP8": "vp8", "V_VP9": "vp9", "V_MPEG2": "mpeg2video",
                 "V_MPEG4/ISO/ASP": "mpeg4", "V_MJPEG": "mjpeg", "V_PRORES": "prores",
                 "V_FFV1": "ffv1"}


def outline(path: Path, track: int = 1) -> MediaInfo | None:
    """What ``path`` declares if it is a Matroska/WebM file: its duration exactly as FFmpeg
    reports it, its audio track ``track`` and every audio track with the rate and channels
    their entries declare (a decoder may correct them), without loading FFmpeg's libraries.
    ``None`` for any other file or one this reader cannot describe."""
    try:
        with open(path, "rb") as f:
            return _outline(f, path, track)
    except (Unsupported, OSError, struct.error, ValueError, IndexError, KeyError, OverflowError,
            UnicodeDecodeError):
        return None


def _outline(f: BinaryIO, path: Path, track: int) -> MediaInfo | None:
    if f.read(4) != MAGIC:
        return None
    size = f.seek(0, 2)
    header = _element(f, 0, size)
    doctype = _children(f, header).get(_DOCTYPE)
    if doctype is None or _string(f, doctype) not in ("matroska", "webm"):
        return None
    segment = _element(f, header.end, size)
    if segment.id != _SEGMENT:
        return None
    info = tracks = cluster = None
    pos = segment.payload
    while pos < segment.end:
        element = _element(f, pos, segment.end)
        if element.id == _INFO and info is None:
            info = _children(f, element)
        elif element.id == _TRACKS and tracks is None:
            tracks = [_children(f, entry) for entry in _all(f, element)
                      if entry.id == _TRACK_ENTRY]
        elif element.id == _CLUSTER:
            cluster = element
            break
        if element.end == UNKNOWN:
            return None
        pos = element.end
    if info is None or tracks is None or _DURATION not in info:
        return None
    scale = _uint(f, info[_TIMESTAMP_SCALE]) if _TIMESTAMP_SCALE in info else 1_000_000
    declared = _float(f, info[_DURATION])
    if not scale or not declared > 0:
        return None
    # FFmpeg's arithmetic (matroskadec.c), truncated to whole microseconds as it stores it
    duration = int(declared * scale * 1000 / 1_000_000) / 1_000_000
    entries = [_track(f, entry) for entry in tracks]
    audio = [entry for entry in entries if entry["type"] == _AUDIO_TRACK]
    videos = [entry for entry in entries if entry["type"] == _VIDEO]
    if not 0 < track <= len(audio):
        return None
    starts = _first_blocks(f, cluster, {e["number"] for e in entries}) if cluster else {}
    origin = min(starts.values(), default=0)
    described = tuple(
        AudioTrack(number=n, codec=e["codec"], channels=e["channels"],
                   sample_rate=e["rate"], title=e["name"], language=e["language"],
                   start=max(0.0, (starts.get(e["number"], origin) - origin) * scale / 1e9))
        for n, e in enumerate(audio, start=1))
    return media_info(path, duration=players_duration(CONTAINER, duration, origin * scale / 1e9),
                      size=size, tracks=described, track=track,
                      video_codec=videos[0]["codec"] if videos else None, container=CONTAINER)


def _track(f: BinaryIO, entry: dict) -> dict:
    """One TrackEntry as FFmpeg's demuxer describes its stream."""
    kind = _uint(f, entry[_TRACK_TYPE]) if _TRACK_TYPE in entry else 0
    codec_id = _string(f, entry[_CODEC_ID]) if _CODEC_ID in entry else ""
    described = {"type": kind, "number": _uint(f, entry[_TRACK_NUMBER])}
    if kind == _VIDEO:
        if codec_id not in _VIDEO_CODECS:
            raise Unsupported(codec_id)
        described["codec"] = _VIDEO_CODECS[codec_id]
    elif kind == _AUDIO_TRACK:
        audio = _children(f, entry[_AUDIO]) if _AUDIO in entry else {}
        depth = _uint(f, audio[_BIT_DEPTH]) if _BIT_DEPTH in audio else 0
        codec = _AUDIO_CODECS.get(codec_id.split("/")[0] if codec_id.startswith("A_AAC")
                                  else codec_id) or _PCM.get((codec_id, depth))
        if codec is None:
            raise Unsupported(codec_id)
        rate = _float(f, audio[_RATE]) if _RATE in audio else 8000.0
        if _OUTPUT_RATE in audio:
            rate = _float(f, audio[_OUTPUT_RATE])
        language = _string(f, entry[_LANGUAGE]) if _LANGUAGE in entry else "eng"
        described.update(
            codec=codec, rate=int(rate),
            channels=_uint(f, audio[_CHANNELS]) if _CHANNELS in audio else 1,
            name=(_string(f, entry[_NAME], utf8=True) or None) if _NAME in entry else None,
            language=None if language in ("", "und") else language)
    return described


def _first_blocks(f: BinaryIO, cluster: _Element, numbers: set[int]) -> dict[int, int]:
    """The timestamp (in TimestampScale units) of each track's first block, from the clusters
    from ``cluster`` on (a few MB at most)."""
    found: dict[int, int] = {}
    pos, stop = cluster.start, cluster.start + _CLUSTER_LIMIT
    while pos < stop and len(found) < len(numbers):
        try:
            element = _element(f, pos, stop)
        except (Unsupported, struct.error, IndexError):
            break
        if element.id != _CLUSTER:
            if element.end == UNKNOWN:
                break
            pos = element.end
            continue
        base = 0
        end = element.end if element.end != UNKNOWN else stop
        inner = element.payload
        while inner < end:
            child = _element(f, inner, end)
            if child.id == _CLUSTER_TIMESTAMP:
                base = _uint(f, child)
            elif child.id in (_SIMPLE_BLOCK, _BLOCK_GROUP):
                block = child
                if child.id == _BLOCK_GROUP:
                    block = _children(f, child).get(_BLOCK)
                if block is not None:
                    f.seek(block.payload)
                    head = f.read(12)
                    number, used = vint(head, 0)
                    (relative,) = struct.unpack(">h", head[used:used + 2])
                    found.setdefault(number, base + relative)
            if child.end == UNKNOWN:
                break
            inner = child.end
        pos = end
    return found


class _Element:
    """An element's ID, where it starts, where its payload starts and where it ends."""

    __slots__ = ("id", "start", "payload", "end")

    def __init__(self, ident: int, start: int, payload: int, end: int) -> None:
        self.id, self.start, self.payload, self.end = ident, start, payload, end


def _element(f: BinaryIO, pos: int, end: int) -> _Element:
    """The element whose header is at ``pos`` (its size cut at ``end``)."""
    ident, payload, size = element_header(f, pos)
    if size == UNKNOWN:
        return _Element(ident, pos, payload, UNKNOWN if ident in (_SEGMENT, _CLUSTER)
                        else end)
    return _Element(ident, pos, payload, min(payload + size, end))


def _all(f: BinaryIO, parent: _Element) -> list[_Element]:
    """The child elements of ``parent`` (one of bounded size)."""
    if parent.end == UNKNOWN or parent.end - parent.payload > _ELEMENT_LIMIT:
        raise Unsupported("an oversized element")
    found, pos = [], parent.payload
    while pos < parent.end:
        child = _element(f, pos, parent.end)
        if child.end == UNKNOWN:
            raise Unsupported("an element of unknown size inside another")
        found.append(child)
        pos = child.end
    return found


def _children(f: BinaryIO, parent: _Element) -> dict[int, _Element]:
    """The first child element of each ID inside ``parent``."""
    found: dict[int, _Element] = {}
    for child in _all(f, parent):
        found.setdefault(child.id, child)
    return found


def _payload(f: BinaryIO, element: _Element) -> bytes:
    f.seek(element.payload)
    return f.read(element.end - element.payload)


def _uint(f: BinaryIO, element: _Element) -> int:
    return int.from_bytes(_payload(f, element), "big")


def _float(f: BinaryIO, element: _Element) -> float:
    data = _payload(f, element)
    if len(data) == 4:
        return struct.unpack(">f", data)[0]
    if len(data) == 8:
        return struct.unpack(">d", data)[0]
    return 0.0


def _string(f: BinaryIO, element: _Element, utf8: bool = False) -> str:
    data = _payload(f, element).split(b"\0", 1)[0]
    return data.decode("utf-8") if utf8 else data.decode("ascii")
