"""How MP4, Matroska and RIFF (WAV) files frame their data, read by the headers alone: an
MP4's boxes, a Matroska element's ID and size, a RIFF file's chunks. m0's readers of those
files (the pyav source's, the clip encoder's window) and :mod:`~m0core.media.ends` walk them
with these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: The boxes an MP4 or QuickTime file begins with (an old QuickTime file: its preview, pnot).
MP4_FIRST_BOXES = frozenset({b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide",
                             b"pnot"})
#: The size of a Matroska element of unknown size (a live recording's Segment or Cluster).
UNKNOWN = -1


class Unsupported(Exception):
    """A file (or a part of one) these readers do not describe: FFmpeg's demuxer reads it."""


@dataclass(frozen=True)
class Box:
    """One MP4 box: its type, where its payload starts and where the box ends (file offsets),
    and whether all of it is there (``whole``: not cut at the end it was read up to)."""

    kind: bytes
    start: int
    payload: int
    end: int
    whole: bool = True


def boxes(f: BinaryIO, start: int, end: int) -> Iterator[Box]:
    """The boxes between ``start`` and ``end``, read by their headers only. A box that claims
    to run past ``end`` is cut there and is not ``whole`` (a truncated recording's last
    ``mdat``); :class:`Unsupported` at a header no box has."""
    return _walk(f, start, end, _box_header)


def riff_chunks(f: BinaryIO, start: int, end: int) -> Iterator[Box]:
    """The RIFF chunks (a WAV file's ``fmt ``, ``data``, ...) between ``start`` and ``end``,
    read by their headers only, as :class:`Box` es: a chunk that claims to run past ``end``
    is cut there and is not ``whole`` (a WAV file whose copy stopped)."""
    return _walk(f, start, end, _chunk_header)


#: A unit's header read at ``pos`` (``head``: its first 8 to 16 bytes) of a file read up to
#: ``end``: ``(kind, header's length, unit's length, bytes to the next unit)``, ``None`` for a
#: header the file's end cuts.
_Header = Callable[[bytes, int, int], "tuple[bytes, int, int, int] | None"]


def _walk(f: BinaryIO, start: int, end: int, header: _Header) -> Iterator[Box]:
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(16)
        found = header(head, pos, end) if len(head) >= 8 else None
        if found is None:
            return
        kind, length, size, step = found
        yield Box(kind, pos, pos + length, min(pos + size, end), pos + size <= end)
        pos += step


def _box_header(head: bytes, pos: int, end: int) -> tuple[bytes, int, int, int] | None:
    """An MP4 box's: its size (big-endian) then its type; a size of 1 is followed by a 64-bit
    one, a size of 0 runs to the end."""
    size, kind, length = int.from_bytes(head[:4], "big"), head[4:8], 8
    if size == 1:
        if len(head) < 16:
            return None
        size, length = int.from_bytes(head[8:16], "big"), 16
    elif size == 0:
        size = end - pos
    if size < length:
        raise Unsupported(f"a damaged {kind!r} box")
    return kind, length, size, size


def _chunk_header(head: bytes, pos: int, end: int) -> tuple[bytes, int, int, int]:
    """A RIFF chunk's: its ID then its payload's size (little-endian), an odd one padded."""
    size = 8 + int.from_bytes(head[4:8], "little")
    return head[:4], 8, size, size + (size & 1)


def vint(data: bytes, at: int, keep_marker: bool = False) -> tuple[int, int]:
    """The Matroska variable-length integer at ``data[at]``: its value (an ID keeps its marker
    bit: ``keep_marker``) and its length in bytes. :class:`Unsupported` if there is none."""
    if at >= len(data) or not data[at]:
        raise Unsupported("a damaged element header")
    length = 9 - data[at].bit_length()
    if len(data) < at + length:
        raise Unsupported("a truncated element header")
    value = data[at] if keep_marker else data[at] & (0xFF >> length)
    for byte in data[at + 1:at + length]:
        value = value << 8 | byte
    return value, length


def element_header(f: BinaryIO, pos: int) -> tuple[int, int, int]:
    """The Matroska element whose header is at ``pos``: its ID, where its payload starts and
    its size (:data:`UNKNOWN` for all ones). :class:`Unsupported` if no header is there."""
    f.seek(pos)
    head = f.read(12)
    ident, id_length = vint(head, 0, keep_marker=True)
    size, size_length = vint(head, id_length)
    if size == (1 << (7 * size_length)) - 1:
        size = UNKNOWN
    return ident, pos + id_length + size_length, size
