"""The ffmpeg filters of short-form clips: reframing, fades, loudness normalisation.

A clip's video is scaled to the frame :class:`~m0core.shortform.ShortForm` asks for and fitted
to it (``blur``: the whole picture centred over a blurred, zoomed copy of itself; ``crop``: a
centred cut; ``pad``: black bars), then faded in and out. Its audio is faded, given a static
gain to the target integrated loudness, and limited to the true-peak ceiling: the limiter runs
on 4× oversampled audio, so it sees the peaks between samples too.

The gain comes from measuring the clip window (:func:`loudness_command`: ffmpeg's ``ebur128``
on the window's audio alone, fades included, without decoding any video), the same measure a
player or a platform applies to the finished clip. Where the limiter has much to do (a loud
reaction in a quiet window) it takes loudness off, so the window is measured again through the
gain and the limiter and the gain corrected (:func:`corrected_gain`), at most
:data:`CORRECTIONS` times, until it is within :data:`TOLERANCE_LU` of the target. The limiter's
ceiling sits :data:`CODEC_HEADROOM` under the true-peak ceiling, as encoding raises the peaks
between samples of limited audio by up to about that much. Why not the analysis' curve: m0's
sources deliver mono, and a mono mix cannot tell a stereo clip's loudness (it is 3 to 6 dB off
depending on how alike the channels are), so the audio is measured again — the clip's window
only, a few tenths of a second per clip beside its video re-encode.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from m0core.media.ffmpeg import PLAYERS_INPUT, PLAYERS_TIMELINE, input_arg
from m0core.shortform import MAX_DEFAULT_HEIGHT, TRUE_PEAK, ShortForm

#: Loudness below which a clip is treated as silence and gets no gain (EBU R128's gate).
SILENCE_LUFS = -70.0
#: The largest gain applied (a near-silent clip is not raised into noise).
MAX_GAIN_DB = 40.0
#: Oversampling of the true-peak limiter.
OVERSAMPLE = 4
#: dB between the limiter's ceiling and the clip's true-peak ceiling: encoding (AAC, MP3) raises
#: the true peaks of heavily limited audio by up to about 2.6 dB (measured), so the limiter
#: works at -4 dBTP and the encoded clip stays under -1.
CODEC_HEADROOM = 3.0
#: How close (LU) to the target a clip's measured loudness must be; further off, the gain is
#: corrected, at most :data:`CORRECTIONS` times.
TOLERANCE_LU = 0.5
CORRECTIONS = 2
#: The largest step (dB) of one correction: a window that is one loud burst is not limited
#: into a wall to reach the target.
MAX_STEP_DB = 6.0

_INTEGRATED = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?\d+(?:\.\d+)?|-inf)\s*LUFS")


def video_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` of the first video stream of ``path``, read by PyAV (no decoding).

    Uses the display size: a non-square sample aspect ratio widens or narrows the width. An
    MP4 or MOV file's is read from its boxes, turned upright as its display matrix says (as
    ffmpeg turns the frames before the clip's filters), without FFmpeg's libraries
    (:func:`m0_plugins.pyav_source.mp4video.video_size`): FFmpeg's demuxer would index every
    sample of the file to open it.
    """
    from m0_plugins.pyav_source import mp4video

    try:
        return mp4video.video_size(Path(path))
    except (mp4video.Unsupported, OSError):
        pass
    import av

    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        sar = stream.sample_aspect_ratio
        if sar and sar.numerator and sar.denominator and sar != 1:
            width = round(width * sar.numerator / sar.denominator)
    return int(width), int(height)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def frame_size(short: ShortForm, source: tuple[int, int]) -> tuple[int, int]:
    """The clips' ``(width, height)``: ``short.height`` (default the source's, at most
    :data:`MAX_DEFAULT_HEIGHT`) and ``short.aspect`` (default the source's), both even."""
    src_w, src_h = source
    height = short.height or max(2, min(src_h, MAX_DEFAULT_HEIGHT) // 2 * 2)
    aw, ah = short.aspect or (src_w, src_h)
    return _even(height * aw / ah), height


def video_graph(short: ShortForm, size: tuple[int, int] | None, duration: float) -> str:
    """The ``-filter_complex`` part from the input's video ``[0:V:0]`` to ``[v]``.

    ``size`` is the frame (:func:`frame_size`), ``None`` to keep the source's; ``duration``
    the clip's, for the fade out.
    """
    chain = []
    if size is not None:
        w, h = size
        fill = f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}"
        whole = f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2"
        if short.fit == "blur":
            # The background is blurred at a quarter of the size (16× fewer pixels to blur),
            # then scaled up, which blurs it some more.
            bw, bh = _even(w / 4), _even(h / 4)
            background = (f"scale={bw}:{bh}:force_original_aspect_ratio=increase,"
                          f"crop={bw}:{bh},boxblur=luma_radius='min(w,h)/8':luma_power=2,"
                          f"scale={w}:{h}")
            head = (f"[0:V:0]split=2[m0bg][m0fg];[m0bg]{background}[m0b];[m0fg]{whole}[m0f];"
                    f"[m0b][m0f]overlay=(W-w)/2:(H-h)/2")
        elif short.fit == "crop":
            head = f"[0:V:0]{fill}"
        else:
            head = f"[0:V:0]{whole},pad={w}:{h}:(ow-iw)/2:(oh-ih)/2"
        chain.append(head)
        chain.append("setsar=1")
    else:
        chain.append("[0:V:0]null")
    chain += _fades("fade", short.fade, duration)
    chain.append("format=yuv420p")
    return ",".join(chain) + "[v]"


def _fades(name: str, fade: float, duration: float) -> list[str]:
    if fade <= 0:
        return []
    fade = min(fade, duration / 2)
    return [f"{name}=t=in:st=0:d={fade:.3f}",
            f"{name}=t=out:st={max(duration - fade, 0.0):.3f}:d={fade:.3f}"]


def audio_fades(short: ShortForm, duration: float) -> str:
    """The audio fade filters of a clip of ``duration`` s (``anull`` when there is no fade)."""
    return ",".join(_fades("afade", short.fade, duration)) or "anull"


def audio_graph(short: ShortForm, duration: float, gain_db: float | None,
                sample_rate: int) -> str:
    """The audio filter chain of a clip: fades, then (with a ``gain_db``) the static gain and
    the true-peak limiter (:data:`TRUE_PEAK` less :data:`CODEC_HEADROOM`) on audio oversampled
    :data:`OVERSAMPLE` times, back at ``sample_rate`` (48 kHz when unknown)."""
    chain = [audio_fades(short, duration)]
    if gain_db is not None:
        rate = sample_rate or 48000
        ceiling = 10 ** ((TRUE_PEAK - CODEC_HEADROOM) / 20)
        chain += [f"volume={gain_db:.2f}dB", f"aresample={rate * OVERSAMPLE}",
                  f"alimiter=limit={ceiling:.4f}:attack=1:release=50:level=false:latency=true",
                  f"aresample={rate}"]
    return ",".join(chain)


def loudness_command(path: str | os.PathLike, start: float, duration: float,
                     short: ShortForm, gain_db: float | None = None,
                     sample_rate: int = 0, source: str | None = None,
                     sound: str | None = None) -> list[str]:
    """The ffmpeg arguments (after the binary) that measure the integrated loudness of
    ``duration`` s of ``path``'s audio from ``start`` s through the clip's audio filters
    (:func:`audio_graph`: its fades, and with ``gain_db`` the gain and the limiter): ffmpeg's
    ``ebur128`` on the audio alone (the video is not decoded). The result is on stderr
    (:func:`integrated_loudness`). ``source``: the ffmpeg input that reads ``path``, if not
    the file (see :func:`~m0_plugins.ffmpeg_encoder.clip_command`); ``sound``: the sound
    measured, the clip's (:func:`~m0_plugins.ffmpeg_encoder.command.sound_graph`), if not the
    first audio track."""
    args = ["-hide_banner", "-nostdin", "-loglevel", "info", *PLAYERS_INPUT]
    if start > 0:
        args += ["-ss", f"{start:.6f}"]
    graph = audio_graph(short, duration, gain_db, sample_rate)
    sound = sound or f"[0:a:0]{PLAYERS_TIMELINE}"
    return args + ["-i", source or input_arg(path), "-t", f"{duration:.6f}",
                   "-filter_complex", f"{sound},{graph},ebur128=framelog=quiet[m0l]",
                   "-map", "[m0l]", "-vn", "-sn", "-dn", "-f", "null", "-"]


def integrated_loudness(stderr: str) -> float | None:
    """The integrated loudness (LUFS) in ``ebur128``'s summary, ``None`` if there is none;
    silence (below the gate) is :data:`SILENCE_LUFS`."""
    found = _INTEGRATED.findall(stderr)
    if not found:
        return None
    value = found[-1]
    return SILENCE_LUFS if value == "-inf" else max(float(value), SILENCE_LUFS)


def gain_to(target: float, measured: float) -> float:
    """The static gain (dB) from ``measured`` to ``target`` LUFS; 0 for silence, at most
    :data:`MAX_GAIN_DB`."""
    if measured <= SILENCE_LUFS:
        return 0.0
    return min(target - measured, MAX_GAIN_DB)


def corrected_gain(target: float, tries: list[tuple[float, float]]) -> float:
    """The next gain (dB) to try, from ``tries``: ``(gain, loudness measured through it and
    the limiter)``, oldest first. One try: its gain plus what it fell short by; more: along
    the line through the last two (the limiter makes a dB of gain worth less than a LU). A
    step is at most :data:`MAX_STEP_DB`, the gain at most :data:`MAX_GAIN_DB`."""
    gain, got = tries[-1]
    slope = 1.0
    if len(tries) > 1:
        (g0, l0), (g1, l1) = tries[-2:]
        if g1 != g0:
            slope = min(1.0, max(0.2, (l1 - l0) / (g1 - g0)))
    step = max(-MAX_STEP_DB, min(MAX_STEP_DB, (target - got) / slope))
    return min(gain + step, MAX_GAIN_DB)
