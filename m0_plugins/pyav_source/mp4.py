"""The audio tracks of an MP4/MOV/M4A file, read from its sample tables in constant memory.

FFmpeg's mov demuxer builds an index of every sample of every track when it opens a file, so
its memory grows with the recording's length (about 60 MB more for 6 hours of 720p video and
AAC). This reader walks the boxes instead and reads one audio track's tables (stsz/stz2,
stco/co64, stsc, stts; moof/traf/trun for fragmented files) in blocks of
:data:`BLOCK` entries, straight from the file, and gives each sample's bytes
(:func:`packets`), which :mod:`.reader` hands to PyAV's decoder. The edit list places the
samples where players put them: a leading empty edit is silence, the first edit's media time
(the encoder's priming samples) is skipped, its duration ends the track.

What it does not handle (another codec, several edits, a damaged box) raises
:class:`Unsupported`, and the caller falls back to FFmpeg's demuxer. It also says what FFmpeg
says of every audio track (codec, title, language, start; :attr:`AudioTrack.labels`), so
probing an MP4 does not open FFmpeg's demuxer either; and, without a decoder at all, what the
file declares (:func:`outline`). This module does not load FFmpeg's libraries. The reader of
the video track (:mod:`.mp4video`: thumbnails, keyframes) shares its box walking, table
readers (:func:`sample_tables`) and reader of movie fragments (:func:`moof_rows`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from m0core.media.framing import MP4_FIRST_BOXES, Box, Unsupported, boxes
from m0core.model import AudioTrack as TrackInfo
from m0core.model import MediaInfo

#: Table entries read from the file at a time (a few tens of KB at most).
BLOCK = 4096
#: Sample bytes read from the file at a time.
READ_LIMIT = 1 << 18
#: FFmpeg's name of the demuxer that reads these files (``MediaInfo.container``).
CONTAINER = "mov,mp4,m4a,3gp,3g2,mj2"

VIDEO_CODECS = {b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc",
                 b"av01": "av1", b"vp09": "vp9", b"vp08": "vp8", b"mp4v": "mpeg4",
                 b"jpeg": "mjpeg", b"mjpa": "mjpeg", b"apch": "prores", b"apcn": "prores",
                 b"apcs": "prores", b"apco": "prores", b"ap4h": "prores"}
#: MPEG-4 object type indications (esds) of the audio codecs handled here.
_OBJECT_TYPES = {0x40: "aac", 0x66: "aac", 0x67: "aac", 0x68: "aac", 0x69: "mp3", 0x6B: "mp3",
                 0xA5: "ac3", 0xA6: "eac3"}
#: The decoder FFmpeg's demuxer would pick, where it is not the one named like the codec
#: (FFmpeg's "mp3" is its fixed-point decoder).
_DECODERS = {"mp3": "mp3float"}
# Not Opus: FFmpeg's decoder drops the pre-skip itself at every fresh start, which a decode
# started mid-stream cannot tell from the edit list's; FFmpeg's demuxer reads those files.
_ENTRY_CODECS = {b".mp3": "mp3", b"ac-3": "ac3", b"ec-3": "eac3", b"alac": "alac"}


def child_boxes(f: BinaryIO, box: Box, skip: int = 0) -> dict[bytes, Box]:
    """The first child box of each type inside ``box`` (after ``skip`` payload bytes)."""
    found: dict[bytes, Box] = {}
    for child in boxes(f, box.payload + skip, box.end):
        found.setdefault(child.kind, child)
    return found


def box_payload(f: BinaryIO, box: Box, limit: int = 1 << 16) -> bytes:
    """The payload of a small box (at most ``limit`` bytes)."""
    size = box.end - box.payload
    if size > limit:
        raise Unsupported(f"an oversized {box.kind!r} box")
    f.seek(box.payload)
    data = f.read(size)
    if len(data) < size:
        raise Unsupported(f"a truncated {box.kind!r} box")
    return data


@dataclass(frozen=True)
class Table:
    """A table of fixed-size entries in the file, read a block at a time."""

    offset: int  # file offset of entry 0
    count: int
    dtype: np.dtype

    def read(self, f: BinaryIO, index: int, count: int) -> np.ndarray:
        """Entries ``[index, index + count)`` (``count`` at most :data:`BLOCK` is the norm)."""
        count = max(0, min(count, self.count - index))
        size = self.dtype.itemsize
        f.seek(self.offset + index * size)
        data = f.read(count * size)
        if len(data) < count * size:
            raise Unsupported("a truncated sample table")
        return np.frombuffer(data, dtype=self.dtype)

    def blocks(self, f: BinaryIO, index: int = 0) -> Iterator[np.ndarray]:
        """The entries from ``index`` on, :data:`BLOCK` at a time."""
        while index < self.count:
            block = self.read(f, index, BLOCK)
            index += len(block)
            yield block


def full_table(f: BinaryIO, box: Box, dtype: str, header: int = 8) -> Table:
    """A full box's table: version/flags, an entry count, then the entries."""
    f.seek(box.payload + header - 4)
    (count,) = struct.unpack(">I", f.read(4))
    table = Table(box.payload + header, count, np.dtype(dtype))
    if table.offset + count * table.dtype.itemsize > box.end:
        raise Unsupported(f"a truncated {box.kind!r} table")
    return table


@dataclass
class Sizes:
    """Sample sizes: one size for all (``constant``) or a table (stsz or stz2)."""

    constant: int = 0
    table: Table | None = None
    nibbles: bool = False  # stz2 with 4-bit fields: two sizes a byte

    def read(self, f: BinaryIO, index: int, count: int) -> np.ndarray:
        """Sizes of samples ``[index, index + count)``, as int64."""
        if self.table is None:
            return np.full(count, self.constant, dtype=np.int64)
        if not self.nibbles:
            return self.table.read(f, index, count).astype(np.int64)
        first = index // 2
        raw = self.table.read(f, first, (index + count + 1) // 2 - first)
        both = np.stack([raw >> 4, raw & 15], axis=1).reshape(-1).astype(np.int64)
        return both[index - 2 * first:index - 2 * first + count]


@dataclass
class Edit:
    """Where the track's media lies on the players' timeline, from its edit list."""

    lead: float = 0.0  # seconds from the players' 0 (the earliest track's start) to the media
    media_time: int = 0  # media time (track timescale) shown at ``lead``
    length: float | None = None  # seconds shown from there; None: to the end


@dataclass
class Fragments:
    """Defaults for the track's samples in movie fragments (trex)."""

    duration: int = 0
    size: int = 0
    flags: int = 0


@dataclass
class AudioTrack:
    """The sample tables and decoder set-up of an audio track."""

    track_id: int
    timescale: int
    codec: str
    extradata: bytes | None
    sample_rate: int
    channels: int
    edit: Edit
    samples: int = 0  # samples in the sample tables (not counting fragments)
    stts: Table | None = None
    stsc: Table | None = None
    chunks: Table | None = None
    sizes: Sizes = field(default_factory=Sizes)
    fragments: Fragments | None = None
    #: ``(title, language)`` as FFmpeg's demuxer reports them (the title: the track's
    #: ``©nam``/``name``, else its handler's name), or ``None`` where this reader cannot tell.
    labels: tuple[str | None, str | None] | None = None


@dataclass
class Movie:
    """What the boxes of an MP4-family file say: its audio track, its first video codec and
    its duration; ``tracks``: every audio track (or why this reader does not read it)."""

    path: Path
    size: int
    audio: AudioTrack | None
    video_codec: str | None
    duration: float | None
    fragmented: bool
    moov_end: int
    tracks: list[AudioTrack | Unsupported] = field(default_factory=list)
    #: Seconds from the file's 0 to the players' 0 (the earliest track's start), which every
    #: track's :attr:`Edit.lead` and :attr:`duration` are counted from.
    origin: float = 0.0
    #: The first video track's trak box (:mod:`.mp4video` reads it), and the mvhd's timescale
    #: that its edit list counts in.
    video_trak: Box | None = None
    movie_scale: int = 0
    #: Each track's defaults for its samples in movie fragments (trex), by track ID.
    trex: dict[int, Fragments] = field(default_factory=dict)


def open_movie(path: Path, track: int = 1) -> Movie:
    """Read the boxes of ``path``, with its audio track number ``track`` (from 1, in file
    order, as FFmpeg and players number them); :class:`Unsupported` if it is not a movie this
    reader handles (the caller then uses FFmpeg's demuxer)."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        moov = None
        for box in boxes(f, 0, size):
            if box.kind not in MP4_FIRST_BOXES | {b"moof", b"mfra", b"sidx", b"uuid", b"meta"}:
                raise Unsupported(f"an unknown top-level box {box.kind!r}")
            if box.kind == b"moov":
                moov = box
                break
        if moov is None:
            raise Unsupported("no moov box")
        return _movie(f, path, size, moov, track)


def looks_like_mp4(path: Path) -> bool:
    """Whether ``path`` starts with a box an MP4-family file starts with."""
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and head[4:8] in MP4_FIRST_BOXES


def _movie(f: BinaryIO, path: Path, size: int, moov: Box, number: int = 1) -> Movie:
    movie_scale, movie_duration = 0, 0
    tracks: list[AudioTrack | Unsupported] = []
    video = None
    video_trak = None
    leads: list[float] = []  # each audio and video track's start on the timeline
    trex: dict[int, Fragments] = {}
    fragmented = False
    for box in boxes(f, moov.payload, moov.end):
        if box.kind == b"mvhd":
            movie_scale, movie_duration = scale_and_duration(box_payload(f, box))
        elif box.kind == b"mvex":
            fragmented = True
            for child in boxes(f, box.payload, box.end):
                if child.kind == b"trex":
                    track_id, _sdi, duration, sample_size, flags = struct.unpack(
                        ">IIIII", box_payload(f, child)[4:24])
                    trex[track_id] = Fragments(duration, sample_size, flags)
        elif box.kind == b"trak":
            kind, track = _track(f, box, movie_scale)
            if kind == "video":
                codec, lead = track
                video = video or codec
                video_trak = video_trak or box
                leads.append(lead)
            elif kind == "audio":
                tracks.append(track)
                leads.append(0.0 if isinstance(track, Unsupported) else track.edit.lead)
    # the players' 0 is the container's start (FFmpeg's start_time): the earliest track's,
    # later than the file's 0 when every track starts late (an audio-only file, say)
    origin = min(leads, default=0.0)
    for each in tracks:
        if not isinstance(each, Unsupported):
            each.edit.lead -= origin
    audio = tracks[number - 1] if 0 < number <= len(tracks) else None
    if isinstance(audio, Unsupported):
        raise audio
    if audio is not None and fragmented:
        audio.fragments = trex.get(audio.track_id, Fragments())
    duration = movie_duration / movie_scale - origin if movie_scale and movie_duration else None
    return Movie(path, size, audio, video, duration, fragmented, moov.end, tracks, origin,
                 video_trak, movie_scale, trex)


def _track(f: BinaryIO, trak: Box, movie_scale: int):
    """``("audio", AudioTrack or the Unsupported that says why not)``, ``("video", (codec,
    its start in seconds))`` or ``("other", None)``."""
    parts = child_boxes(f, trak)
    mdia = parts.get(b"mdia")
    if mdia is None or b"tkhd" not in parts:
        return "other", None
    media = child_boxes(f, mdia)
    if b"hdlr" not in media or b"minf" not in media or b"mdhd" not in media:
        return "other", None
    handler = box_payload(f, media[b"hdlr"])[8:12]
    stbl = child_boxes(f, media[b"minf"]).get(b"stbl")
    if stbl is None:
        return "other", None
    tables = child_boxes(f, stbl)
    if b"stsd" not in tables:
        return "other", None
    stsd = tables[b"stsd"]
    entries = list(boxes(f, stsd.payload + 8, stsd.end))
    if handler == b"vide":
        if not entries:
            return "other", None
        codec = VIDEO_CODECS.get(entries[0].kind, entries[0].kind.decode("latin-1"))
        timescale = media_timescale(f, media)
        try:
            lead = track_edit(f, parts.get(b"edts"), movie_scale, timescale or 1).lead
        except Unsupported:  # an edit list this reader does not follow: start at 0
            lead = 0.0
        return "video", (codec, lead)
    if handler != b"soun":
        return "other", None
    try:
        track = _audio(f, parts, media, tables, entries, movie_scale)
    except Unsupported as exc:
        return "audio", exc
    except (struct.error, IndexError, ValueError) as exc:
        return "audio", Unsupported(f"a damaged audio track ({exc})")
    try:
        track.labels = _labels(f, parts, media)
    except (Unsupported, struct.error, IndexError, ValueError, UnicodeDecodeError):
        track.labels = None
    return "audio", track


def decoder_name(codec: str) -> str:
    """The name of the FFmpeg decoder used for ``codec`` (FFmpeg's demuxer names a stream's
    codec context so too: ``mp3float`` for MP3)."""
    return _DECODERS.get(codec, codec)


#: Handler names that are a muxer's default, not a title (FFmpeg's and Apple's).
_UNNAMED = {"SoundHandler", "Sound Media Handler", "Core Media Audio"}
#: ``mdhd`` language codes that are not ISO 639-2: QuickTime's "unspecified", and Macintosh
#: language code 0 (English; the other old Macintosh codes are left to FFmpeg).
_MAC_LANGUAGES = {0x7FFF: None, 0: "eng"}


def _labels(f: BinaryIO, parts: dict, media: dict) -> tuple[str | None, str | None]:
    """``(title, language)`` of an audio track as FFmpeg's demuxer reports them;
    :class:`Unsupported` where it would read boxes this reader does not (a track's
    ``meta``, an old Macintosh language or text encoding)."""
    mdhd = box_payload(f, media[b"mdhd"])
    (code,) = struct.unpack(">H", mdhd[32:34] if mdhd[0] == 1 else mdhd[20:22])
    if code >= 0x400 and code != 0x7FFF:
        language = "".join(chr(0x60 + ((code >> shift) & 0x1F)) for shift in (10, 5, 0))
    elif code in _MAC_LANGUAGES:
        language = _MAC_LANGUAGES[code]
    else:
        raise Unsupported(f"Macintosh language code {code}")
    names: dict[str, str] = {}
    udta = parts.get(b"udta")
    for box in boxes(f, udta.payload, udta.end) if udta is not None else ():
        if box.kind == b"meta":
            raise Unsupported("a track's meta box")
        if box.kind == b"name":
            names.setdefault("name", box_payload(f, box).rstrip(b"\0").decode("utf-8"))
        elif box.kind == b"\xa9nam":
            data = box_payload(f, box)
            size, lang = struct.unpack(">HH", data[:4])
            text = data[4:4 + size]
            if lang < 0x400 and not text.isascii():
                raise Unsupported("a Macintosh-encoded title")
            names.setdefault("title", text.rstrip(b"\0").decode("utf-8"))
    title = names.get("title") or names.get("name") or _handler_name(box_payload(f, media[b"hdlr"]))
    return title or None, None if language == "und" else language


def _handler_name(hdlr: bytes) -> str | None:
    """The name in a ``hdlr`` payload (a C string, or QuickTime's counted string), unless it
    is a muxer's default."""
    name = hdlr[24:]
    if name and name[0] == len(name) - 1:  # QuickTime: a length byte first
        name = name[1:]
    text = name.split(b"\0", 1)[0].decode("utf-8")
    return None if not text or text in _UNNAMED else text


def track_number(f: BinaryIO, parts: dict[bytes, Box]) -> int:
    """The track ID in the ``tkhd`` of a track whose child boxes are ``parts``."""
    tkhd = box_payload(f, parts[b"tkhd"])
    return struct.unpack(">I", tkhd[20:24] if tkhd[0] == 1 else tkhd[12:16])[0]


def scale_and_duration(header: bytes) -> tuple[int, int]:
    """The timescale (ticks a second) and the duration (ticks) of an ``mvhd`` or ``mdhd``
    payload (both lay them out alike; version 1 with 64-bit times)."""
    return struct.unpack(">IQ", header[20:32]) if header[0] == 1 \
        else struct.unpack(">II", header[12:20])


def media_timescale(f: BinaryIO, media: dict[bytes, Box]) -> int:
    """The timescale (ticks a second) in the ``mdhd`` of a track's ``mdia`` children."""
    return scale_and_duration(box_payload(f, media[b"mdhd"]))[0]


#: A duration in an ``mvhd`` or ``mdhd`` that says "unknown" (all ones).
UNKNOWN_DURATIONS = (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)


def track_spans(path: Path) -> tuple[float, list[tuple[float, float]]] | None:
    """The movie's duration and each audio and video track's ``(start, end)`` on its
    timeline, in seconds, read from the ``moov``; ``None`` where the boxes do not say so
    plainly: not an MP4, fragmented (the ``moov`` does not hold the samples), a duration
    unknown, an edit list this reader does not follow, a damaged file."""
    try:
        if not looks_like_mp4(path):
            return None
        with open(path, "rb") as f:
            moov = next((b for b in boxes(f, 0, f.seek(0, 2)) if b.kind == b"moov"), None)
            if moov is None:
                return None
            movie_scale = movie_duration = 0
            spans = []
            for box in boxes(f, moov.payload, moov.end):
                if box.kind == b"mvex":
                    return None
                if box.kind == b"mvhd":
                    movie_scale, movie_duration = scale_and_duration(box_payload(f, box))
                if box.kind != b"trak":
                    continue
                parts = child_boxes(f, box)
                media = child_boxes(f, parts[b"mdia"])
                if box_payload(f, media[b"hdlr"])[8:12] not in (b"soun", b"vide"):
                    continue
                timescale, duration = scale_and_duration(box_payload(f, media[b"mdhd"]))
                if not timescale or duration in UNKNOWN_DURATIONS:
                    return None
                edit = track_edit(f, parts.get(b"edts"), movie_scale, timescale)
                end = edit.lead + (duration - edit.media_time) / timescale
                spans.append((edit.lead, end if edit.length is None
                              else min(end, edit.lead + edit.length)))
    except (Unsupported, OSError, KeyError, struct.error, IndexError, ValueError):
        return None
    if not spans or not movie_scale or movie_duration in UNKNOWN_DURATIONS:
        return None
    return movie_duration / movie_scale, spans


def _audio(f: BinaryIO, parts: dict, media: dict, tables: dict, entries: list[Box],
           movie_scale: int) -> AudioTrack:
    track_id, timescale = track_number(f, parts), media_timescale(f, media)
    if not timescale:
        raise Unsupported("an audio track without a timescale")
    if len(entries) != 1:
        raise Unsupported("an audio track with several sample descriptions")
    codec, extradata, rate, channels = _sample_entry(f, entries[0])
    track = AudioTrack(track_id, timescale, codec, extradata, rate, channels,
                       track_edit(f, parts.get(b"edts"), movie_scale, timescale))
    sample_tables(f, tables, track, "audio")
    if b"ctts" in tables and _has_composition_offsets(f, tables[b"ctts"]):
        raise Unsupported("an audio track with composition offsets")
    return track


class SampleTables(Protocol):
    """A track with the sample tables :func:`sample_tables` reads (audio or video)."""

    samples: int
    stts: Table | None
    stsc: Table | None
    chunks: Table | None
    sizes: Sizes


def sample_tables(f: BinaryIO, tables: dict[bytes, Box], track: SampleTables,
                  what: str) -> None:
    """Set ``track``'s stts, stsc, chunk offsets (stco/co64), sizes (stsz/stz2) and sample
    count from the boxes of its stbl; :class:`Unsupported` (naming the ``what`` track) where
    one is missing or damaged."""
    if b"stts" not in tables or b"stsc" not in tables:
        raise Unsupported(f"an {what} track without sample tables")
    track.stts = full_table(f, tables[b"stts"], ">u4,>u4")
    track.stsc = full_table(f, tables[b"stsc"], ">u4,>u4,>u4")
    if b"stco" in tables:
        track.chunks = full_table(f, tables[b"stco"], ">u4")
    elif b"co64" in tables:
        track.chunks = full_table(f, tables[b"co64"], ">u8")
    else:
        raise Unsupported(f"an {what} track without chunk offsets")
    if b"stsz" in tables:
        box = tables[b"stsz"]
        f.seek(box.payload + 4)
        constant, count = struct.unpack(">II", f.read(8))
        table = None if constant else Table(box.payload + 12, count, np.dtype(">u4"))
        track.sizes = Sizes(constant, table)
    elif b"stz2" in tables:
        box = tables[b"stz2"]
        f.seek(box.payload + 7)
        bits, count = struct.unpack(">BI", f.read(5))
        if bits not in (4, 8, 16):
            raise Unsupported(f"stz2 with {bits}-bit sizes")
        dtype = {4: ">u1", 8: ">u1", 16: ">u2"}[bits]
        track.sizes = Sizes(0, Table(box.payload + 12, count, np.dtype(dtype)), bits == 4)
    else:
        raise Unsupported(f"an {what} track without sample sizes")
    track.samples = int(sum(int(b["f0"].sum()) for b in track.stts.blocks(f)))
    size_count = track.sizes.table.count if track.sizes.table is not None else track.samples
    if size_count < track.samples:
        raise Unsupported("sample sizes missing")


def _has_composition_offsets(f: BinaryIO, box: Box) -> bool:
    """Whether a ctts moves any sample (audio has no reordering: all offsets are equal)."""
    table = full_table(f, box, ">u4,>i4")
    offsets = {int(v) for block in table.blocks(f) for v in np.unique(block["f1"])}
    return len(offsets) > 1 or offsets - {0} != set()


def _sample_entry(f: BinaryIO, entry: Box) -> tuple[str, bytes | None, int, int]:
    """Codec name, decoder extradata, sample rate and channels of an audio sample entry."""
    head = box_payload(f, Box(entry.kind, entry.payload, entry.payload, min(entry.end,
                                                                      entry.payload + 28)))
    if len(head) < 28:
        raise Unsupported("a short audio sample entry")
    version = struct.unpack(">H", head[8:10])[0]
    channels = struct.unpack(">H", head[16:18])[0]
    rate = struct.unpack(">I", head[24:28])[0] >> 16
    skip = {0: 28, 1: 44, 2: 64}.get(version)
    if skip is None:
        raise Unsupported(f"a version {version} sound description")
    children = child_boxes(f, Box(entry.kind, entry.payload, entry.payload, entry.end), skip)
    kind = entry.kind
    if kind == b"mp4a":
        esds = children.get(b"esds")
        if esds is None and b"wave" in children:  # QuickTime puts it in a wave box
            esds = child_boxes(f, children[b"wave"]).get(b"esds")
        if esds is None:
            raise Unsupported("mp4a without esds")
        codec, extradata = _esds(box_payload(f, esds)[4:])
        return codec, extradata, rate, channels
    codec = _ENTRY_CODECS.get(kind)
    if codec is None:
        raise Unsupported(f"audio codec {kind.decode('latin-1')!r}")
    if codec == "alac":
        box = children.get(b"alac")
        if box is None:
            raise Unsupported("alac without its alac box")
        f.seek(box.start)
        return codec, f.read(box.end - box.start), rate, channels
    return codec, None, rate, channels


def _esds(data: bytes) -> tuple[str, bytes | None]:
    """Codec and DecoderSpecificInfo of an ES descriptor (ISO 14496-1)."""
    def descriptor(pos: int) -> tuple[int, int, int]:
        tag = data[pos]
        pos += 1
        length = 0
        for _ in range(4):
            byte = data[pos]
            pos += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        return tag, pos, pos + length

    tag, pos, end = descriptor(0)
    if tag != 0x03:
        raise Unsupported("an esds without an ES descriptor")
    flags = data[pos + 2]
    pos += 3
    if flags & 0x80:
        pos += 2
    if flags & 0x40:
        pos += 1 + data[pos]
    if flags & 0x20:
        pos += 2
    tag, pos, end = descriptor(pos)
    if tag != 0x04:
        raise Unsupported("an esds without a decoder config")
    codec = _OBJECT_TYPES.get(data[pos])
    if codec is None:
        raise Unsupported(f"audio object type 0x{data[pos]:02x}")
    pos += 13
    extradata = None
    if pos < end:
        tag, start, stop = descriptor(pos)
        if tag == 0x05:
            extradata = data[start:stop]
    if codec == "aac" and not extradata:
        raise Unsupported("AAC without its AudioSpecificConfig")
    return codec, extradata


def track_edit(f: BinaryIO, edts: Box | None, movie_scale: int, timescale: int) -> Edit:
    """The track's place on the timeline: leading empty edits, then at most one edit."""
    edit = Edit()
    if edts is None:
        return edit
    elst = child_boxes(f, edts).get(b"elst")
    if elst is None:
        return edit
    data = box_payload(f, elst, 1 << 20)
    version = data[0]
    (count,) = struct.unpack(">I", data[4:8])
    fmt, size = (">QqHH", 20) if version == 1 else (">IiHH", 12)
    entries = [struct.unpack(fmt, data[8 + i * size:8 + (i + 1) * size]) for i in range(count)]
    scale = movie_scale or timescale
    while entries and entries[0][1] == -1:  # an empty edit: nothing shown
        edit.lead += entries.pop(0)[0] / scale
    if len(entries) > 1:
        raise Unsupported("an edit list of several edits")
    if entries:
        duration, media_time, rate, _fraction = entries[0]
        if rate != 1:
            raise Unsupported("an edit at another rate")
        edit.media_time = media_time
        edit.length = duration / scale if duration else None
    return edit


#: Samples described by one :class:`Run` at most.
RUN_SAMPLES = 1 << 12


@dataclass(frozen=True)
class Run:
    """Samples of the audio track in file order: the first at media time ``dts``, each at
    ``offsets`` in the file, of ``sizes`` bytes and ``durations`` (track timescale)."""

    dts: int
    offsets: np.ndarray
    sizes: np.ndarray
    durations: np.ndarray

    def cut(self, start: int) -> Run | None:
        """Without the samples that end at or before media time ``start`` (None if none
        is left)."""
        if self.dts >= start:
            return self
        ends = self.dts + np.cumsum(self.durations)
        skip = int(np.searchsorted(ends, start, side="right"))
        if skip >= len(self.sizes):
            return None
        return Run(int(ends[skip - 1]) if skip else self.dts, self.offsets[skip:],
                   self.sizes[skip:], self.durations[skip:])


def runs(f: BinaryIO, movie: Movie, start: int = 0) -> Iterator[Run]:
    """The audio samples from the one that holds media time ``start`` on, at most
    :data:`RUN_SAMPLES` at a time, from the sample tables and then from the movie
    fragments."""
    track = movie.audio
    if track is None:
        raise Unsupported("no audio track")
    end = 0
    if track.samples:
        first, dts = sample_at(f, track.stts, start)
        durations = _Durations(f, track.stts, first)
        for run in table_runs(f, track, first):
            yield Run(dts, run[0], run[1], durations(len(run[1])))
            dts += int(durations.last_sum)
        end = dts if first < track.samples else sample_at(f, track.stts, 1 << 62)[1]
    if movie.fragmented:
        yield from _fragment_runs(f, movie, track, start, end)


def table_runs(f: BinaryIO, track: SampleTables, first: int
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(offsets, sizes)`` of the samples in the tables from sample ``first`` on."""
    sample = 0  # index of the first sample of the next piece of chunks
    for chunk, counts in _chunk_pieces(f, track):
        total = int(counts.sum())
        if sample + total > first:
            offsets = track.chunks.read(f, chunk, len(counts)).astype(np.int64)
            if len(offsets) < len(counts):
                raise Unsupported("chunk offsets missing")
            yield from _piece_runs(f, track, offsets, counts, sample, first)
        sample += total
        if sample >= track.samples:
            return


def _chunk_pieces(f: BinaryIO, track: SampleTables) -> Iterator[tuple[int, np.ndarray]]:
    """``(index of the first chunk, samples of each chunk)`` for the track's chunks in order,
    :data:`BLOCK` chunks at most, from the stsc (a row per change of samples per chunk)."""
    chunks = track.chunks.count
    carry: tuple[np.ndarray, np.ndarray] | None = None
    blocks = track.stsc.blocks(f)
    while True:
        block = next(blocks, None)
        if block is None:
            if carry is None:
                return
            firsts = np.append(carry[0], chunks + 1)
            per = carry[1]
        else:
            firsts = block["f0"].astype(np.int64)
            per = block["f1"].astype(np.int64)
            if carry is not None:
                firsts = np.concatenate([carry[0], firsts])
                per = np.concatenate([carry[1], per])
            carry = (firsts[-1:], per[-1:])
            per = per[:-1]
        spans = np.clip(np.diff(firsts), 0, None)
        ends = np.cumsum(spans)
        i = 0
        while i < len(spans):
            base = int(ends[i - 1]) if i else 0
            j = int(np.searchsorted(ends, base + BLOCK, side="right"))
            if j <= i:  # one row of more than BLOCK chunks
                for k in range(0, int(spans[i]), BLOCK):
                    yield (int(firsts[i]) - 1 + k,
                           np.full(min(BLOCK, int(spans[i]) - k), per[i], dtype=np.int64))
                i += 1
            else:
                if ends[j - 1] > base:
                    yield int(firsts[i]) - 1, np.repeat(per[i:j], spans[i:j])
                i = j
        if block is None:
            return


def _piece_runs(f: BinaryIO, track: SampleTables, offsets: np.ndarray, counts: np.ndarray,
                sample: int, first: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(offsets, sizes)`` of the samples of chunks at ``offsets`` holding ``counts``
    samples, the first being sample ``sample``; those before sample ``first`` left out."""
    counts = np.minimum(counts, np.maximum(0, track.samples - sample - (np.cumsum(counts)
                                                                         - counts)))
    ends = np.cumsum(counts)
    i = 0
    while i < len(counts):
        base = int(ends[i - 1]) if i else 0
        j = int(np.searchsorted(ends, base + RUN_SAMPLES, side="right"))
        if j <= i:  # one chunk of more than RUN_SAMPLES samples: contiguous pieces
            at = int(offsets[i])
            for k in range(0, int(counts[i]), RUN_SAMPLES):
                n = min(RUN_SAMPLES, int(counts[i]) - k)
                sizes = track.sizes.read(f, sample + base + k, n)
                places = at + np.cumsum(sizes) - sizes
                at += int(sizes.sum())
                yield from _from(places, sizes, sample + base + k, first)
            i += 1
            continue
        cnt = counts[i:j]
        total = int(ends[j - 1]) - base
        if sample + base + total > first and total:
            sizes = track.sizes.read(f, sample + base, total)
            before = np.cumsum(sizes) - sizes
            heads = np.cumsum(cnt) - cnt
            within = before - np.repeat(before[np.minimum(heads, total - 1)], cnt)
            places = np.repeat(offsets[i:j], cnt) + within
            yield from _from(places, sizes, sample + base, first)
        i = j


def _from(offsets: np.ndarray, sizes: np.ndarray, sample: int, first: int
          ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The samples from ``first`` on, of those that start with sample ``sample``."""
    skip = max(0, first - sample)
    if skip < len(sizes):
        yield offsets[skip:], sizes[skip:]


def sample_at(f: BinaryIO, stts: Table, time: int) -> tuple[int, int]:
    """The index and media time of the sample that holds media time ``time`` (the sample
    count and the end time if ``time`` lies past the last sample)."""
    sample, dts = 0, 0
    for block in stts.blocks(f):
        counts = block["f0"].astype(np.int64)
        spans = counts * block["f1"].astype(np.int64)
        ends = dts + np.cumsum(spans)
        i = int(np.searchsorted(ends, time, side="right"))
        if i < len(spans):
            before = int(counts[:i].sum())
            start = int(ends[i - 1]) if i else dts
            delta = int(block["f1"][i])
            skip = (time - start) // delta if delta else 0
            return sample + before + skip, start + skip * delta
        sample += int(counts.sum())
        dts = int(ends[-1]) if len(ends) else dts
    return sample, dts


class _Durations:
    """Sample durations from the stts, from sample ``first`` on, ``n`` at a time."""

    def __init__(self, f: BinaryIO, stts: Table, first: int) -> None:
        self._rows = ((c, d) for block in stts.blocks(f) for c, d in block.tolist())
        self._left, self._delta = 0, 0
        self.last_sum = 0
        while first > 0:  # skipped by counting: a segment hours in holds no array of them
            if not self._left:
                self._left, self._delta = next(self._rows, (first, 0))
            take = min(first, self._left)
            self._left -= take
            first -= take

    def __call__(self, n: int) -> np.ndarray:
        parts = []
        while n > 0:
            if not self._left:
                self._left, self._delta = next(self._rows, (n, 0))
            take = min(n, self._left)
            parts.append(np.full(take, self._delta, dtype=np.int64))
            self._left -= take
            n -= take
        out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        self.last_sum = int(out.sum())
        return out


_TRUN_FIELDS = ((0x100, "duration", ">u4"), (0x200, "size", ">u4"), (0x400, "flags", ">u4"),
                (0x800, "cto", ">i4"))


@dataclass(frozen=True)
class TrunRows:
    """Samples of one track in a movie fragment's trun, :data:`BLOCK` at most, in decode
    order: each at ``offsets`` in the file, of ``sizes`` bytes, lasting ``durations``
    (track timescale), with its sample ``flags`` (ISO 14496-12, 8.8.3.1) and composition
    offset (``ctos``)."""

    #: The traf's base media decode time (tfdt), on its first rows; else None.
    tfdt: int | None
    offsets: np.ndarray
    sizes: np.ndarray
    durations: np.ndarray
    flags: np.ndarray
    ctos: np.ndarray


def _column(rows: np.ndarray, name: str, default: int) -> np.ndarray:
    """The field ``name`` of trun ``rows`` as int64, or ``default`` for each if the trun
    leaves it out."""
    if name in rows.dtype.names:
        return rows[name].astype(np.int64)
    return np.full(len(rows), default, dtype=np.int64)


def moof_rows(f: BinaryIO, moof: Box, track_id: int, defaults: Fragments
              ) -> Iterator[TrunRows]:
    """The samples of track ``track_id`` in the movie fragment ``moof`` (its trafs' truns),
    with the tfhd's defaults, else the trex's (``defaults``), and the data offset rules: a
    tfhd's base data offset, else the moof's start (default-base-is-moof, and the first
    traf) or where the previous traf's data ended; a trun's data offset from that base,
    else where the previous trun's data ended."""
    data_end = moof.start  # where the previous traf's data ended
    for traf in boxes(f, moof.payload, moof.end):
        if traf.kind != b"traf":
            continue
        parts = list(boxes(f, traf.payload, traf.end))
        tfhd = next((p for p in parts if p.kind == b"tfhd"), None)
        if tfhd is None:
            raise Unsupported("a traf without tfhd")
        head = box_payload(f, tfhd)
        flags = int.from_bytes(head[1:4], "big")
        (traf_track,) = struct.unpack(">I", head[4:8])
        pos = 8
        base = moof.start if flags & 0x20000 else data_end
        if flags & 0x1:
            (base,) = struct.unpack(">Q", head[pos:pos + 8])
            pos += 8
        pos += 4 if flags & 0x2 else 0
        default_duration, default_size = defaults.duration, defaults.size
        default_flags = defaults.flags
        if flags & 0x8:
            (default_duration,) = struct.unpack(">I", head[pos:pos + 4])
            pos += 4
        if flags & 0x10:
            (default_size,) = struct.unpack(">I", head[pos:pos + 4])
            pos += 4
        if flags & 0x20:
            (default_flags,) = struct.unpack(">I", head[pos:pos + 4])
        tfdt = next((p for p in parts if p.kind == b"tfdt"), None)
        mine = traf_track == track_id
        dts = None
        if mine and tfdt is not None:
            body = box_payload(f, tfdt)
            (dts,) = struct.unpack(">Q" if body[0] == 1 else ">I",
                                   body[4:12] if body[0] == 1 else body[4:8])
        offset = base
        for trun in parts:
            if trun.kind != b"trun":
                continue
            body = box_payload(f, Box(b"trun", trun.payload, trun.payload,
                                      min(trun.end, trun.payload + 16)))
            tflags = int.from_bytes(body[1:4], "big")
            (count,) = struct.unpack(">I", body[4:8])
            pos = 8
            if tflags & 0x1:
                (data_offset,) = struct.unpack(">i", body[8:12])
                offset = base + data_offset
                pos += 4
            first_flags = None
            if tflags & 0x4:
                (first_flags,) = struct.unpack(">I", body[pos:pos + 4])
                pos += 4
            fields = [(name, t) for bit, name, t in _TRUN_FIELDS if tflags & bit]
            table = Table(trun.payload + pos, count,
                          np.dtype(fields) if fields else np.dtype([("none", "u1")]))
            if fields and table.offset + count * table.dtype.itemsize > trun.end:
                raise Unsupported("a truncated trun")
            for index in range(0, count, BLOCK):
                n = min(BLOCK, count - index)
                rows = table.read(f, index, n) if fields else np.zeros(n, table.dtype)
                sizes = _column(rows, "size", default_size)
                if mine:
                    sample_flags = _column(rows, "flags", default_flags)
                    if first_flags is not None and index == 0 and "flags" not in rows.dtype.names:
                        sample_flags[0] = first_flags
                    yield TrunRows(dts, offset + np.cumsum(sizes) - sizes, sizes,
                                   _column(rows, "duration", default_duration), sample_flags,
                                   _column(rows, "cto", 0))
                    dts = None
                offset += int(sizes.sum())
        if mine and dts is not None:  # a tfdt without samples still sets the time
            empty = np.zeros(0, dtype=np.int64)
            yield TrunRows(dts, empty, empty, empty, empty, empty)
        data_end = offset


def _fragment_runs(f: BinaryIO, movie: Movie, track: AudioTrack, start: int,
                   dts: int) -> Iterator[Run]:
    """The track's samples in the movie fragments (moof/traf/trun) after the moov."""
    for moof in boxes(f, movie.moov_end, movie.size):
        if moof.kind != b"moof":
            continue
        for rows in moof_rows(f, moof, track.track_id, track.fragments):
            if rows.tfdt is not None:
                dts = rows.tfdt
            span = int(rows.durations.sum())
            if dts + span > start and len(rows.sizes):
                run = Run(dts, rows.offsets, rows.sizes, rows.durations).cut(start)
                if run is not None:
                    yield run
            dts += span


def packets(f: BinaryIO, run_list: Iterator[Run], frame: int = 0, gap: int = 0
            ) -> Iterator[bytes | int | None]:
    """The bytes of each sample of ``run_list``, reading the file once per stretch of
    adjacent samples (:data:`READ_LIMIT` bytes at most). A sample that lies past the end of a
    truncated file (after every whole one before it), or tables that contradict each other,
    end the iteration with ``None``.

    With ``gap`` (ticks of the track's timescale), a stretch of the timeline with no audio is
    an ``int``, its length in ticks, where it lies: after a sample that lasts more than
    ``gap`` longer than the ``frame`` ticks it decodes to (how ffmpeg writes a late start or
    a gap in the packets), and before a fragment that starts more than ``gap`` after the
    previous one ended."""
    fd = f.fileno()
    expected = None  # media time just after the previous run
    for run in checked(run_list):
        if run is None:
            yield None
            return
        offsets = run.offsets
        sizes = run.sizes
        if gap and expected is not None and run.dts - expected > gap:
            yield run.dts - expected
        expected = run.dts + int(run.durations.sum())
        # a new read where a sample does not follow the previous one in the file, and after
        # a sample that holds a gap
        breaks = np.flatnonzero(offsets[1:] != offsets[:-1] + sizes[:-1]) + 1
        held = {}
        if gap:
            long = np.flatnonzero(run.durations - frame > gap)
            held = dict(zip((long + 1).tolist(), (run.durations[long] - frame).tolist(),
                            strict=True))
        bounds = sorted({0, *breaks.tolist(), *held, len(sizes)})
        size_list = sizes.tolist()
        offset_list = offsets.tolist()
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            while a < b:
                total, stop = 0, a
                while stop < b and (stop == a or total + size_list[stop] <= READ_LIMIT):
                    total += size_list[stop]
                    stop += 1
                # bytes, not a memoryview: av.Packet takes a bytes slice three times faster
                data = os.pread(fd, total, offset_list[a])
                short = len(data) < total
                while total > len(data):  # the file ends: the samples read whole are kept
                    stop -= 1
                    total -= size_list[stop]
                pos = 0
                for size in size_list[a:stop]:
                    yield data[pos:pos + size]
                    pos += size
                if short:
                    yield None
                    return
                a = stop
            if b in held:
                yield int(held[b])


def checked(run_list: Iterator[Run]) -> Iterator[Run | None]:
    """``run_list``, ended by ``None`` where the tables turn out damaged."""
    try:
        yield from run_list
    except (Unsupported, struct.error, ValueError, IndexError):
        yield None


def media_end(f: BinaryIO, movie: Movie) -> int:
    """The media time just after the audio track's last sample in the file: a recording cut
    short (a fragmented MP4 whose last fragment's data the crash cut off) ends with the last
    sample whose bytes are all there."""
    end = 0
    for run in runs(f, movie):
        whole = run.offsets + run.sizes <= movie.size
        if not whole.all():
            return run.dts + int(run.durations[:int(np.argmin(whole))].sum())
        end = run.dts + int(run.durations.sum())
    return end


def shown_end(movie: Movie, rate: int) -> int:
    """The sample index (at ``rate``) just after the audio track's last shown sample."""
    track = movie.audio
    edit = track.edit
    if edit.length:
        return round((edit.lead + edit.length) * rate)
    with open(movie.path, "rb") as f:
        last = media_end(f, movie)
    return round(edit.lead * rate) + round((last - edit.media_time) * rate / track.timescale)


def duration(movie: Movie, rate: int) -> float:
    """The movie's duration as FFmpeg reports it: the mvhd's, else the audio's end — or the
    later of the two for a fragmented movie, whose mvhd covers only the samples in its moov."""
    if movie.duration and not movie.fragmented:
        return movie.duration
    end = shown_end(movie, rate) / rate
    return max(movie.duration or 0.0, end)


def cut_fragments_end(path: Path, declared: float) -> float:
    """``declared`` (FFmpeg's demuxer's duration of the MP4-family file ``path``), or, for a
    fragmented movie a crash cut off in a fragment, where the first of its audio tracks to
    end ends, each with its last sample whose bytes are in the file (:func:`media_end`):
    FFmpeg counts those the last fragment's tables name, and its demuxer stops at the cut."""
    ends = [declared]
    try:
        number, count = 1, 1
        while number <= count:
            movie = open_movie(path, number)
            if not movie.fragmented:
                return declared
            count = len(movie.tracks)
            if movie.audio is not None and movie.audio.sample_rate:
                ends.append(duration(movie, movie.audio.sample_rate))
            number += 1
    except (Unsupported, OSError, struct.error, ValueError, IndexError):
        return declared
    return min(ends)


def described(number: int, track: AudioTrack, rate: int, channels: int) -> TrackInfo:
    """Audio track ``number`` as FFmpeg's demuxer describes it, given the rate and channels
    (the decoder's, or those the file declares)."""
    scale = track.timescale
    title, language = track.labels or (None, None)
    return TrackInfo(number=number, codec=decoder_name(track.codec), channels=channels,
                     sample_rate=rate, start=round(track.edit.lead * scale) / scale,
                     title=title, language=language)


def media_info(movie: Movie, path: Path, rate: int, channels: int, seconds: float,
               tracks: tuple[TrackInfo, ...]) -> MediaInfo:
    """What ``movie`` holds, its audio track decoded at ``rate`` with ``channels``."""
    return MediaInfo(
        path=str(path), duration=seconds, sample_rate=rate, channels=channels,
        has_audio=True, has_video=movie.video_codec is not None,
        audio_codec=movie.audio.codec, video_codec=movie.video_codec, container=CONTAINER,
        size=path.stat().st_size, tracks=tracks)


def outline(path: Path, track: int = 1) -> MediaInfo | None:
    """What ``path`` holds, from its boxes alone (no decoder, no FFmpeg library): its audio
    track ``track`` and every track with the rate and channels their sample entries declare.
    A decoder may give others (AAC's implicit SBR doubles the rate, implicit PS makes mono
    stereo), so this is an outline to plan a run by, which a decoding process makes exact.
    ``None`` where this reader would not read or describe the file (FFmpeg's demuxer would)."""
    try:
        if not looks_like_mp4(path):
            return None
        movie = open_movie(path, track)
    except (Unsupported, OSError):
        return None
    audio = movie.audio
    if audio is None or not audio.sample_rate or not audio.channels:
        return None
    tracks = []
    for number, each in enumerate(movie.tracks, start=1):
        if isinstance(each, Unsupported) or each.labels is None:
            return None
        tracks.append(described(number, each, each.sample_rate, each.channels))
    try:
        seconds = duration(movie, audio.sample_rate)
    except (Unsupported, OSError, struct.error, ValueError, IndexError):
        return None
    return media_info(movie, path, audio.sample_rate, audio.channels, seconds, tuple(tracks))
