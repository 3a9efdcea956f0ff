"""Writers ``otio``, ``edl`` (CMX 3600) and ``fcpxml``: the highlights as an editor timeline.

One OpenTimelineIO timeline is built — one clip per highlight, back to back, each referencing
its window of the source file — and written with OTIO's adapters (``otio_json``, ``cmx_3600``,
``fcpx_xml``), so Premiere, Resolve and Final Cut open the moments in place of the clips.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m0core.errors import CONTROL, OptionError, OutputError
from m0core.outputs import level, numbered, position, write_text_atomic

if TYPE_CHECKING:
    from m0core.model import MediaInfo
    from m0core.result import AnalysisResult

#: Frame rate of timelines of media without video (or an unreadable rate).
AUDIO_RATE = 25.0

#: Frame rates both SMPTE timecode (EDL) and the FCPXML adapter express, as they spell them.
TIMECODE_RATES = (23.98, 24.0, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0)

#: name → (OTIO adapter, file name, the pip package holding the adapter)
FORMATS = {
    "otio": ("otio_json", "highlights.otio", "opentimelineio"),
    "edl": ("cmx_3600", "highlights.edl", "otio-cmx3600-adapter"),
    "fcpxml": ("fcpx_xml", "highlights.fcpxml", "otio-fcpx-xml-adapter"),
}


def frame_rate(media: MediaInfo) -> float:
    """The first video stream's average frame rate, else :data:`AUDIO_RATE`: an MP4 or MOV
    file's from its sample tables (:func:`m0_plugins.pyav_source.mp4video.frame_rate`;
    FFmpeg's demuxer would index every sample of the file to open it), others' by PyAV."""
    if not media.has_video:
        return AUDIO_RATE
    from m0_plugins.pyav_source import mp4video

    try:
        return mp4video.frame_rate(Path(media.path))
    except (mp4video.Unsupported, OSError):
        pass
    import av

    try:
        with av.open(media.path) as container:
            rate = container.streams.video[0].average_rate
    except (av.FFmpegError, IndexError, OSError):
        return AUDIO_RATE
    return float(rate) if rate else AUDIO_RATE


def timecode_rate(rate: float) -> float:
    """The timecode rate for media at ``rate`` fps: its own when standard (NTSC rates spelt
    29.97 etc.), else the lowest standard whole multiple (15 → 30, so every source frame has
    a timecode), else the nearest standard rate."""
    for standard in TIMECODE_RATES:
        if abs(standard - rate) < 0.01:
            return standard
    multiples = [r for r in TIMECODE_RATES if r == int(r) and (r / rate) % 1 < 1e-6]
    if multiples:
        return multiples[0]
    return min(TIMECODE_RATES, key=lambda r: abs(r - rate))


#: The NTSC rates of :data:`TIMECODE_RATES`, as they are spelt there: 1000/1001 of a whole rate.
NTSC_RATES = (23.98, 29.97, 59.94)


def _exact_rate(rate: float) -> Fraction:
    """The frame rate ``rate`` stands for: an NTSC one of :data:`NTSC_RATES` (29.97) is
    30000/1001, any other is itself."""
    return Fraction(round(rate) * 1000, 1001) if rate in NTSC_RATES else Fraction(rate)


def build_timeline(result: AnalysisResult, rate: float) -> Any:
    """An ``otio.schema.Timeline`` at ``rate`` fps: one clip per highlight on one track.

    The track is a video track for media with video, followed for media with sound by an
    audio track of the same clips (Resolve and Final Cut bring a picture track's clips in
    without their sound). For audio-only media it is an audio
    track, followed by an empty picture track (one gap as long as the audio track), as
    editors hold audio-only sequences. The EDL and FCPXML adapters need that picture track:
    ``cmx_3600`` refuses a timeline without exactly one video track and writes the events of
    the first track (channel ``A`` for an audio track); ``fcpx_xml`` connects audio clips to
    the items of the primary storyline. A track with no highlights holds a gap of no
    duration, as ``cmx_3600`` cannot write an empty track.
    """
    import opentimelineio as otio

    media = result.media
    name = Path(media.path).name
    # a line break in the name would end an EDL's TITLE line: control characters are spaces
    title = CONTROL.sub(" ", Path(media.path).stem)
    timeline = otio.schema.Timeline(name=f"{title} highlights")
    kind = otio.schema.TrackKind.Video if media.has_video else otio.schema.TrackKind.Audio
    track = otio.schema.Track(name="highlights", kind=kind)
    available = None
    if media.duration:
        available = otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate),
            _frame(media.duration, rate))
    count, reel = len(result.highlights), reel_name(media.path)
    for h in result.highlights:
        start, end = _frame(h.start, rate), _frame(h.end, rate)
        ref = otio.schema.ExternalReference(
            target_url=Path(media.path).absolute().as_uri(), available_range=available)
        ref.name = name
        track.append(otio.schema.Clip(
            name=" ".join(part for part in (numbered(h.index, count), position(h.peak_time),
                                            level(h.peak_db), h.kind) if part),
            media_reference=ref,
            source_range=otio.opentime.TimeRange(start, end - start),
            metadata={"m0": h.to_dict(), "cmx_3600": {"reel": reel}},
        ))
    if not result.highlights:
        track.append(_gap(otio.opentime.RationalTime(0, rate)))
    timeline.tracks.append(track)
    if media.has_video and media.has_audio:  # the picture's sound, as an editor links it
        sound = otio.schema.Track(name="sound", kind=otio.schema.TrackKind.Audio)
        for item in track:
            sound.append(item.deepcopy())
        timeline.tracks.append(sound)
    if not media.has_video:
        picture = otio.schema.Track(name="picture", kind=otio.schema.TrackKind.Video)
        picture.append(_gap(track.duration()))
        timeline.tracks.append(picture)
    return timeline


def reel_name(path: str) -> str:
    """The EDL reel of the recording at ``path``: the Latin letters and digits of its name,
    8 at most (``My Stream.mp4``: ``MyStream``), else ``AX`` (an auxiliary source). An EDL's
    event is read field by field: a reel with a space (the adapter's own, ``My Strea``) or
    none made its channel and times be read from the wrong fields."""
    return re.sub(r"[^A-Za-z0-9]", "", Path(path).stem)[:8] or "AX"


def _frame(seconds: float, rate: float) -> Any:
    """The ``otio.opentime.RationalTime`` at ``rate`` of the frame at ``seconds``, counted at
    the rate ``rate`` stands for (:func:`_exact_rate`): 3 h into a 23.976 fps recording, 23.98
    frames a second would count 43 more."""
    import opentimelineio as otio

    return otio.opentime.RationalTime(seconds * float(_exact_rate(rate)), rate).round()


def _gap(duration: Any) -> Any:
    """An ``otio.schema.Gap`` of ``duration`` (a ``RationalTime``)."""
    import opentimelineio as otio

    start = otio.opentime.RationalTime(0, duration.rate)
    return otio.schema.Gap(source_range=otio.opentime.TimeRange(start, duration))


def _with_sound(edl: str) -> str:
    """The EDL with its picture events (channel ``V``) made picture and sound events (``B``:
    video and audio channel 1), for media with both: the adapter writes one track's channel,
    and Premiere and Resolve import a ``V`` event as picture alone. ``B`` has the width of
    ``V``'s padded field, so the columns stay where they were."""
    return re.sub(r"^(\d{3}\s+\S+\s+)V(\s+[CD]\s)", r"\1B\2", edl, flags=re.M)


def _with_frame_code_mode(edl: str) -> str:
    """The EDL with its ``FCM:`` line after the title, which the adapter does not write:
    ``DROP FRAME`` when its timecodes are (``;``, at 29.97 and 59.94 fps), so an editor reads
    them as such, else ``NON-DROP FRAME``."""
    head, newline, rest = edl.partition("\n")
    events = "\n".join(line for line in rest.splitlines() if line[:3].isdigit())
    mode = "DROP FRAME" if ";" in events else "NON-DROP FRAME"
    return f"{head}{newline}FCM: {mode}\n{rest}"


#: A time attribute of an FCPXML element, in seconds: ``duration="89900/2997s"``.
_FCPXML_TIME = re.compile(r'\b(offset|duration|start)="(\d+(?:/\d+)?)s"')


def _on_frames(fcpxml: str, rate: float) -> str:
    """The FCPXML with its times on its frames: the adapter counts a time of ``n`` frames at
    an NTSC ``rate`` as ``n / 29.97`` s, while its format's frame lasts 1001/30000 s, so every
    time fell between two frames (Final Cut: 'not on an edit frame boundary'). Each becomes
    ``n`` frames of :func:`_exact_rate`; at a whole rate nothing changes."""
    spelt, exact = Fraction(str(rate)), _exact_rate(rate)

    def frames(match: re.Match) -> str:
        seconds = round(Fraction(match[2]) * spelt) / exact
        value = str(seconds.numerator) if seconds.denominator == 1 else str(seconds)
        return f'{match[1]}="{value}s"'

    return _FCPXML_TIME.sub(frames, fcpxml)


def _browser_clips_once(fcpxml: str) -> str:
    """The FCPXML with each of its browser clips (the adapter's ``asset-clip`` lines) once:
    the adapter writes one for the picture's clip and one again for its sound's."""
    seen: set[str] = set()
    lines = []
    for line in fcpxml.splitlines(keepends=True):
        if line.lstrip().startswith("<asset-clip ") and line.rstrip().endswith("/>"):
            if line in seen:
                continue
            seen.add(line)
        lines.append(line)
    return "".join(lines)


@functools.cache
def _check_adapter(fmt: str) -> None:
    adapter, _, package = FORMATS[fmt]
    if importlib.util.find_spec("opentimelineio") is None:
        raise OptionError(f'format "{fmt}" needs OpenTimelineIO: '
                          'pip install "m0-clipper[timeline]"')
    import opentimelineio as otio

    if adapter not in otio.adapters.available_adapter_names():
        raise OptionError(f'format "{fmt}" needs the {package} package: '
                          'pip install "m0-clipper[timeline]"')


class TimelineWriter:
    """Write the highlights timeline in format ``fmt`` (a key of :data:`FORMATS`)."""

    def __init__(self, fmt: str) -> None:
        _check_adapter(fmt)
        self.adapter, self.file_name, _ = FORMATS[fmt]

    def write(self, result: AnalysisResult, out_dir: Path) -> list[Path]:
        """Write the timeline file; returns its path."""
        import opentimelineio as otio

        rate = frame_rate(result.media)
        extra: dict[str, Any] = {}
        if self.adapter != "otio_json":  # EDL and FCPXML count in standard timecode rates
            rate = timecode_rate(rate)
        if self.adapter == "cmx_3600":
            extra["rate"] = rate
        timeline = build_timeline(result, rate)
        try:
            text = otio.adapters.write_to_string(timeline, adapter_name=self.adapter, **extra)
        except Exception as exc:  # adapters raise their own exception types
            raise OutputError(f"{self.file_name}: cannot write ({exc})") from exc
        if self.adapter == "fcpx_xml":
            text = _browser_clips_once(_on_frames(text, rate))
        if self.adapter == "cmx_3600":
            text = _with_frame_code_mode(text)
            if result.media.has_video and result.media.has_audio:
                text = _with_sound(text)
        target = out_dir / self.file_name
        write_text_atomic(target, text)
        return [target]
