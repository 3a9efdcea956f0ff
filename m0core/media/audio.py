"""Sample helpers the sources share."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import numpy as np

from m0core.errors import InputError
from m0core.media.ends import cut_short


def downmix(channels_first: np.ndarray) -> np.ndarray:
    """The mean of the channels of a ``(channels, samples)`` array, as new float32 samples.

    Averaging (not ffmpeg's -3 dB-per-channel sum) keeps a level the same whatever the layout
    and never above full scale. The channels are added one by one, so a sample's value never
    depends on how the stream was cut into chunks (a matrix product's SIMD path would).
    """
    data = np.asarray(channels_first)
    if data.shape[0] == 1:
        return np.array(data[0], dtype=np.float32)
    total = data[0].astype(np.float32)
    for channel in data[1:]:
        total += channel
    total *= np.float32(1 / data.shape[0])
    return total


#: Audio a decode that met errors may lack at its end before the file counts as truncated:
#: this many seconds, or this share of the expected length if that is more.
TRUNCATION_SLACK = (0.25, 0.005)
#: Seconds of audio past a file's declared duration that show it was declared too short (an
#: encoder's padding after the last real sample is shorter); the audio is then read to its end.
OVERRUN = 1.0
#: Seconds forward beyond which a jump of the timestamps is a restart, not a gap: FFmpeg's
#: demuxer takes a restart more than 60 s below an MPEG-TS's first timestamp for a wrap of
#: its 33-bit 90 kHz clock and adds the clock's span (26.5 hours); half that span. Such a
#: file also declares that span as its duration.
WRAPPED = (1 << 32) / 90_000


def truncation_slack(expected: float) -> float:
    """Seconds of the ``expected`` a decode may lack at its end before it stopped short
    (:data:`TRUNCATION_SLACK`)."""
    seconds, share = TRUNCATION_SLACK
    return max(seconds, share * expected)


def check_complete(path: str | os.PathLike, decoded: float, total: float | None, start: float = 0.0,
                   length: float | None = None, *, damaged: bool, detail: str = "",
                   video: bool = True) -> None:
    """Raise :class:`InputError` if a decode of a file with ``video`` that met errors
    (``damaged``) stopped short.

    ``decoded`` seconds were read from ``start`` of a file of ``total`` seconds, asked for
    ``length`` seconds (``None``: to the end). The slack (:data:`TRUNCATION_SLACK`) is small
    enough that a recording cut at 99 % is caught at any length, and large enough for the
    audio that ends a little before the video of a healthy recording. A file without video
    cut short (a FLAC, an M4A) is as long as its audio, as one whose decoder meets no error at
    its cut end (a WAV, an MP3) is: the run measures it (``Plan.measured``), and so is a file
    with video that stops inside its container's last unit (a crash, a full disk, a copy
    that stopped: :func:`~m0core.media.ends.cut_short`). A file with video whose framing is
    whole, its audio stopping in its middle (damage), is the error, which says how to make a
    file of what can be read (ffmpeg's copy into Matroska), which m0 reads."""
    if not damaged or total is None or not video:
        return
    expected = total - start if length is None else min(total - start, length)
    if expected > 0 and decoded < expected - truncation_slack(expected) \
            and not cut_short(path):
        copy = Path(os.fspath(path))
        copy = copy.with_name(f"{copy.stem}-readable.mkv")
        named = f"./{copy}" if str(copy).startswith("-") else str(copy)  # not an option
        raise InputError(f"{path}: file is truncated or damaged: audio stops at "
                         f"{start + decoded:.1f} s of {total:.1f} s"
                         f"{f' ({detail})' if detail else ''}; a copy keeps what can be "
                         f"read: ffmpeg -i {shlex.quote(os.fspath(path))} -c copy "
                         f"{shlex.quote(named)}")
