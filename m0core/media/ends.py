"""Whether a recording's file stops before its container's data does: what a crash of the
recorder, a full disk or a copy or download that stopped leaves, read from the container's own
framing (no decoder). A file damaged in its middle whose framing is whole is not cut short.
"""

from __future__ import annotations

import os
from collections import deque
from itertools import islice
from typing import BinaryIO

from m0core.media.framing import (
    MP4_FIRST_BOXES,
    UNKNOWN,
    Unsupported,
    boxes,
    element_header,
    riff_chunks,
)

_EBML = b"\x1a\x45\xdf\xa3"
_SEGMENT = 0x18538067
_TS_PACKET = 188
#: Top-level units walked at most (an MP4's boxes, a Matroska segment's elements); a file with
#: more (14 h of fragments of 1 s) is not said to be cut short.
_MAX_UNITS = 100_000


def cut_short(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` stops inside the last unit its container frames: an MP4's
    box (a faststart MP4's media data, a fragmented MP4's last fragment), a Matroska
    element (its segment of a declared size, or a cluster of an unfinished recording, OBS's
    after a crash), an FLV tag (:func:`flv_cut_short`), a WAV file's RIFF chunk (its audio
    data) or an MPEG-TS packet. ``False`` for
    other files, and where the framing cannot tell (a live Matroska file of unknown sizes)."""
    try:  # unbuffered: a few bytes read at each unit, not 8 KiB (a file on a network share)
        with open(path, "rb", buffering=0) as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            head = f.read(_TS_PACKET + 1)
            if head[:3] == b"FLV":
                return _flv_cut_short(f, size)
            if head[:4] == _EBML:
                return _matroska_cut_short(f, size)
            if head[4:8] in MP4_FIRST_BOXES:
                return _mp4_cut_short(f, size)
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                return _wav_cut_short(f, size)
            if head[:1] == head[_TS_PACKET:] == b"\x47":
                return size % _TS_PACKET != 0
    except OSError:
        return False
    return False


def flv_cut_short(path: str | os.PathLike) -> bool:
    """Whether the FLV file ``path`` stops inside a tag (a download that stopped), where one
    written whole ends with its last tag and that tag's size. The duration such a file
    declares, written in its first bytes when the recording was whole, is not its own."""
    try:
        with open(path, "rb") as f:
            return _flv_cut_short(f, f.seek(0, os.SEEK_END))
    except OSError:
        return False


def _flv_cut_short(f: BinaryIO, size: int) -> bool:
    if size < 13 + 4:
        return False
    f.seek(size - 4)
    last = int.from_bytes(f.read(4), "big")
    if not 11 <= last <= size - 13 - 4:
        return True
    f.seek(size - 4 - last)
    header = f.read(4)
    return header[0] & 0x1F not in (8, 9, 18) or int.from_bytes(header[1:], "big") + 11 != last


def _mp4_cut_short(f: BinaryIO, size: int) -> bool:
    """Whether the top-level box that the file's bytes end in runs past them, or they end
    inside a box's header."""
    try:
        ending = deque(enumerate(islice(boxes(f, 0, size), _MAX_UNITS), 1), maxlen=1)
    except Unsupported:
        return False  # not a box: nothing to tell
    if not ending:
        return True
    count, last = ending[0]
    return count < _MAX_UNITS and (not last.whole or last.end < size)


def _wav_cut_short(f: BinaryIO, size: int) -> bool:
    """Whether a chunk (the audio's ``data``) runs past the file's end, or the file ends
    inside a chunk's header. A ``data`` chunk of size 0 or all ones (a writer to a pipe,
    which could not go back to write it) tells nothing."""
    pos = 12  # past "RIFF", its size and "WAVE"
    for chunk in islice(riff_chunks(f, pos, size), _MAX_UNITS):
        if chunk.kind == b"data":
            f.seek(chunk.start + 4)
            if int.from_bytes(f.read(4), "little") in (0, 0xFFFFFFFF):
                return False
        if not chunk.whole:
            return True
        pos = chunk.end
    return 1 < size - pos < 8  # 0 or 1 (a padding byte) left: whole


def _matroska_cut_short(f: BinaryIO, size: int) -> bool:
    """Whether the file stops before the end of its segment's declared size, or (its size
    unknown, as an unfinished recording's is) inside the segment's last element."""
    try:
        ident, payload, length = element_header(f, 0)  # the EBML header
        if length == UNKNOWN:
            return False
        ident, pos, length = element_header(f, payload + length)
    except Unsupported:
        return f.tell() >= size  # the file ends in the element's header
    if ident != _SEGMENT:
        return False
    if length != UNKNOWN:
        return pos + length > size
    for _ in range(_MAX_UNITS):  # the segment's elements, each of a known size
        if pos >= size:
            return pos > size
        try:
            _, payload, length = element_header(f, pos)
        except Unsupported:
            return f.tell() >= size
        if length == UNKNOWN:
            return False  # a live file's cluster of unknown size: nothing to tell
        pos = payload + length
    return False
