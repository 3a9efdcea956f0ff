"""The ffmpeg command line that cuts one clip."""

from __future__ import annotations

import os
from pathlib import Path

from m0core.checks import ALL_TRACKS
from m0core.media.ffmpeg import PLAYERS_TIMELINE, base_command, input_arg
from m0core.model import MediaInfo

from .keyframes import NUDGE, Seek
from .naming import FASTSTART_EXTENSIONS

CUTS = ("copy", "accurate", "smart")  # smart: see smart.py

#: Re-encoding settings of ``cut="accurate"`` for media with video.
ACCURATE_VIDEO = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                  "-c:a", "aac", "-b:a", "160k"]


def single_track(audio_track: int | str) -> int:
    """The track (numbered from 1) whose sound stands for ``audio_track`` where one track is
    taken: the track itself, or the first for ``"all"`` of a file with fewer than two."""
    return audio_track if isinstance(audio_track, int) else 1


def sound_graph(audio_track: int | str, count: int, *, input: int = 0,
                each: str = PLAYERS_TIMELINE) -> str:
    """The start of a filter graph from the sound analysed in input ``input``, a chain to go
    on with ``,filter…``: track ``audio_track`` (numbered from 1) through the filters
    ``each``, or with ``"all"`` every one of its ``count`` tracks through them, summed at unity
    gain as the analysis sums them (``count`` under 2: the first track)."""
    if audio_track != ALL_TRACKS or count < 2:
        return f"[{input}:a:{single_track(audio_track) - 1}]{each or 'anull'}"
    tracks = [f"[{input}:a:{i}]" for i in range(count)]
    parts = []
    if each:
        parts = [f"{track}{each}[m0t{input}_{i}]" for i, track in enumerate(tracks)]
        tracks = [f"[m0t{input}_{i}]" for i in range(count)]
    return ";".join([*parts, "".join(tracks)
                     + f"amix=inputs={count}:normalize=0:duration=longest"])


def track_titles(media: MediaInfo, tracks: list[int] | None = None) -> list[str]:
    """The ffmpeg output options that name a clip's audio tracks as ``media``'s are named,
    ``tracks`` (numbered from 1) if not every one: an MP4's track names survive neither a
    copy nor a re-encode."""
    titles = {t.number: t.title for t in media.tracks}
    kept = list(titles) if tracks is None else tracks
    return [option for index, number in enumerate(kept) if titles.get(number)
            for option in (f"-metadata:s:a:{index}", f"title={titles[number]}")]


def unknown_rates(media: MediaInfo, tracks: list[int] | None, suffix: str) -> list[str]:
    """ffmpeg's output options for a copy keeping ``tracks`` of ``media`` (numbered from 1;
    ``None``: every one) into a ``suffix`` file: each track FFmpeg found no sample rate of
    (an MPEG-TS track that begins after the seconds its probe reads, m0 probe's ``0 Hz``),
    which it cannot copy ('sample rate not set'), encoded (AAC; Opus into WebM): its decoder
    learns the rate from the track's frames."""
    kept = [t.number for t in media.tracks] if tracks is None else tracks
    rates = {t.number: t.sample_rate for t in media.tracks}
    codec = "libopus" if suffix == ".webm" else "aac"
    return [option for i, number in enumerate(kept) if not rates.get(number, 1)
            for option in (f"-c:a:{i}", codec)]


def clip_command(
    media: MediaInfo, start: float, duration: float, out: str | os.PathLike, cut: str = "copy",
    *, video_graph: str | None = None, audio_filter: str | None = None,
    seek: Seek | None = None, source: str | None = None, tracks: list[int] | None = None,
    sound_only: bool = False, audio_track: int | str = 1,
) -> list[str]:
    """The ffmpeg arguments that write ``duration`` s of ``media`` from ``start`` s to ``out``.

    Seeks on the input side (``-ss`` before ``-i``), keeps the first video stream that is not a
    cover picture and every audio track (an OBS recording's separate microphone track stays
    separate for the editor), whichever exist. ``copy`` copies the streams
    (the clip starts at the keyframe before ``start``); ``accurate`` re-encodes them, frame-exact:
    video to H.264 + AAC, audio-only media to the container's default codec. The container is
    chosen by ``out``'s extension.

    ``video_graph`` (a filter graph from ``[0:V:0]`` to ``[v]``) and ``audio_filter`` (a
    filter chain for the analysed sound) re-encode the clip through them (short-form
    clips, :mod:`~m0_plugins.ffmpeg_encoder.shortform`), whatever ``cut`` says; such a clip
    has one audio track (what a short-form player plays): ``audio_track``, the one analysed
    (``"all"``: every track mixed, see :func:`sound_graph`).

    ``seek`` (:func:`~m0_plugins.ffmpeg_encoder.keyframes.seek_point`) seeks the input to its
    ``at`` instead (``0``: not at all), before ``start``, where a seek to ``start`` would lose
    frames or sound: ``copy`` then starts there too; a re-encoded clip drops what comes
    before ``start`` (through filter graphs, at their inputs, so their times start at the
    window), its video first made constant at the ``hold`` rate when ``seek`` has one, so
    the frame players show at ``start`` is its first, until the video resumes after a gap.

    ``source`` is the ffmpeg input that reads the recording, if not its file (a copied MP4's
    window header followed by the file, :mod:`~m0_plugins.ffmpeg_encoder.window`).
    ``tracks``: the audio tracks (numbered from 1) a clip that is not filtered keeps, if not
    every one (:func:`~m0_plugins.ffmpeg_encoder.keyframes.copied_streams`); a copy encodes
    those FFmpeg found no sample rate of (:func:`unknown_rates`).
    ``sound_only``: a copy of the sound alone, for a window after the picture ends
    (:func:`~m0_plugins.ffmpeg_encoder.keyframes.copied_streams`), read from the
    start of ``source`` up to ``start`` (``seek`` is not used): a seek lands on the
    picture's last keyframe, or (FFmpeg's Matroska demuxer) past ``start``.
    """
    filtered = bool(video_graph or audio_filter)
    source = source or input_arg(media.path)
    skip = 0.0  # seconds decoded before the window, when sought before it
    cmd = base_command() + ["-y"]
    hold = ""  # the filter that holds the frame players show at start, ahead of the trim
    if seek is not None:
        if seek.at > 0:
            cmd += ["-ss", f"{seek.at:.6f}"]
        cmd += ["-i", source]
        skip = max(start - seek.at - NUDGE, 0.0)
        if seek.hold is not None and media.has_video:
            hold = f"fps={seek.hold}"
        if cut == "copy" and not filtered:
            duration += start - seek.at
        elif not filtered:
            cmd += ["-ss", f"{skip:.6f}"]
    else:
        sought = ["-ss", f"{start:.6f}"] if start > 0 else []
        # a sound-only copy reads from the start (a seek would land on the last keyframe)
        cmd += [*sought, "-i", source] if not sound_only else ["-i", source, *sought]
    cmd += ["-t", f"{duration:.6f}"]
    if filtered:
        graph, maps = [], []
        video_trim = audio_trim = ""
        if skip:
            video_trim = f"trim=start={skip:.6f},setpts=PTS-{skip:.6f}/TB,"
            audio_trim = f"atrim=start={skip:.6f},asetpts=PTS-{skip:.6f}/TB,"
        if hold:
            video_trim = f"{hold},{video_trim}"
        if video_graph and media.has_video:
            graph.append(video_graph.replace("[0:V:0]", f"[0:V:0]{video_trim}", 1))
            maps += ["-map", "[v]"]
        if media.has_audio:
            graph.append(f"{sound_graph(audio_track, len(media.tracks))},{audio_trim}"
                         f"{audio_filter or 'anull'}[a]")
            maps += ["-map", "[a]"]
        cmd += ["-filter_complex", ";".join(graph), *maps, "-sn", "-dn"]
        cut = "accurate"
    else:
        sound = ["0:a?"] if tracks is None else [f"0:a:{n - 1}" for n in tracks]
        picture = [] if sound_only else ["-map", "0:V:0?"]
        cmd += [*picture, *(a for m in sound for a in ("-map", m)), "-sn", "-dn"]
        cmd += track_titles(media, tracks)
    suffix = Path(out).suffix.lower()
    if cut == "copy":
        cmd += ["-c", "copy", "-avoid_negative_ts", "make_zero", *unknown_rates(media, tracks,
                                                                               suffix)]
        if suffix == ".flac":  # a copied FLAC header gives the whole file's length and start
            cmd += ["-c:a", "flac"]  # re-encoded: lossless, and about as fast as a copy
    else:  # re-encoded: a late start and gaps filled with silence where players keep them
        if not filtered and media.has_audio:
            cmd += ["-af", PLAYERS_TIMELINE]
        if hold and not filtered:  # the output's -ss trims after it
            cmd += ["-vf", hold]
        if media.has_video:
            cmd += ACCURATE_VIDEO
        elif (media.audio_codec or "").startswith("pcm_"):  # 24-bit and float samples stay so
            cmd += ["-c:a", media.audio_codec]
    if suffix in FASTSTART_EXTENSIONS:
        cmd += ["-movflags", "+faststart"]
    return cmd + [input_arg(out)]
