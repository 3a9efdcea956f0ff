"""The containers recordings come in, made at test time with ffmpeg: in each, the moments are
reported at the times players show (0 = the container's start) and every clip holds its moment.

One mic recording (a quiet bed with two short bursts) goes into each container; a case says at
which player times its bursts lie (an audio track starting 3 s late moves them, a TS that
starts at 1000 s does not, 10 s of lost audio packets before the second one do not, a TS whose
timestamps jump puts the second one after the jump).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import chapters_of, cut_copy, run_m0, sweep

from m0_plugins.ffmpeg_encoder.keyframes import keyframe_before, video_frames
from m0_plugins.pyav_source.source import PyAVSource
from m0core import analyze
from m0core.media.chapters import embed_chapters
from m0core.media.ffmpeg import ffmpeg_exe, probe
from m0core.model import Highlight
from m0core.testing import run_ffmpeg

DURATION = 44.0
BURSTS = (11.0, 31.0)  # starts of the bursts in the mic recording's own time
BURST = 0.4  # seconds each burst lasts
SLACK = 0.5  # how far a reported moment may be from the player's time
GOP = 2.0  # seconds between keyframes of the test videos (a copy-mode clip starts on one)

VIDEO = ["-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=15:duration={DURATION:g}"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30"]
GAME = ["-f", "lavfi", "-i",
        f"anoisesrc=color=pink:amplitude=0.05:sample_rate=48000:duration={DURATION:g}"]


@pytest.fixture(scope="session")
def mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mic recording: 44 s of a quiet noise bed (-34 dBFS) with two 0.4 s bursts."""
    import soundfile

    rate = 48000
    rng = np.random.default_rng(1)
    samples = (rng.standard_normal(int(DURATION * rate)) * 0.02).astype(np.float32)
    for start in BURSTS:
        a, n = int(start * rate), int(BURST * rate)
        samples[a:a + n] += (rng.standard_normal(n) * 0.5).astype(np.float32)
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    soundfile.write(path, samples, rate, subtype="FLOAT")
    return path


def _shifted(by: float) -> tuple[float, ...]:
    return tuple(t + by for t in BURSTS)


# name: (ffmpeg arguments with {mic} for the recording, player times of the bursts)
CASES: dict[str, tuple[list[str], tuple[float, ...]]] = {
    "moov-at-end.mp4": ([*VIDEO, "-i", "{mic}", *H264, "-c:a", "aac", "-shortest"], BURSTS),
    "faststart.mp4": ([*VIDEO, "-i", "{mic}", *H264, "-c:a", "aac", "-movflags", "+faststart",
                       "-shortest"], BURSTS),
    "audio-offset.mp4": ([*VIDEO, "-itsoffset", "3", "-i", "{mic}", "-map", "0:v", "-map",
                          "1:a", *H264, "-c:a", "aac"], _shifted(3.0)),
    "audio-offset.ts": ([*VIDEO, "-itsoffset", "3", "-i", "{mic}", "-map", "0:v", "-map",
                         "1:a", *H264, "-c:a", "aac"], _shifted(3.0)),
    "audio-offset.m2ts": ([*VIDEO, "-itsoffset", "3", "-i", "{mic}", "-map", "0:v", "-map",
                           "1:a", *H264, "-c:a", "aac", "-mpegts_m2ts_mode", "1"],
                          _shifted(3.0)),
    "start-1000.ts": ([*VIDEO, "-i", "{mic}", *H264, "-c:a", "aac", "-shortest",
                       "-output_ts_offset", "1000"], BURSTS),
    "dropped-packets.mkv": ([*VIDEO, "-i", "{mic}", *H264, "-c:a", "aac", "-bsf:a",
                             "noise=drop='between(pts*tb,15,25)'", "-shortest"], BURSTS),
    "cover-art.mkv": ([*VIDEO, "-i", "{mic}", "-attach", "{cover}", "-metadata:s:t",
                       "mimetype=image/png", *H264, "-c:a", "libopus", "-shortest"], BURSTS),
    "cover-art.m4a": (["-i", "{mic}", "-i", "{cover}", "-map", "0:a", "-map", "1:v",
                       "-c:a", "aac", "-c:v", "png", "-disposition:v", "attached_pic"], BURSTS),
    "audio.m4a": (["-i", "{mic}", "-c:a", "aac"], BURSTS),
    "faststart-audio.m4a": (["-i", "{mic}", "-c:a", "aac", "-movflags", "+faststart"], BURSTS),
    "audio.opus": (["-i", "{mic}", "-c:a", "libopus"], BURSTS),
    "audio.flac": (["-i", "{mic}"], BURSTS),
    "audio.wav": (["-i", "{mic}", "-c:a", "pcm_s16le"], BURSTS),
    "8-bit.wav": (["-i", "{mic}", "-c:a", "pcm_u8"], BURSTS),
    "24-bit.wav": (["-i", "{mic}", "-c:a", "pcm_s24le"], BURSTS),
    "96khz.flac": (["-i", "{mic}", "-ar", "96000"], BURSTS),
    "one-silent-channel.wav": (["-i", "{mic}", "-af", "pan=stereo|c0=c0|c1=0*c0",
                                "-c:a", "pcm_s16le"], BURSTS),
    "surround-5.1.mp4": ([*VIDEO, "-i", "{mic}", *H264, "-af",
                          "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=0*c0|BL=c0|BR=c0", "-c:a", "aac",
                          "-shortest"], BURSTS),
    "vp8-opus.webm": ([*VIDEO, "-i", "{mic}", "-c:v", "libvpx", "-deadline", "realtime",
                       "-cpu-used", "8", "-g", "30", "-c:a", "libopus", "-shortest"], BURSTS),
    "old-twitch.flv": ([*VIDEO, "-i", "{mic}", *H264, "-c:a", "aac", "-ar", "44100",
                        "-shortest"], BURSTS),
}


@pytest.fixture(scope="session")
def cover(make_media) -> Path:
    """A small PNG picture (cover art, an attachment)."""
    return make_media("matrix-cover.png", "-f", "lavfi", "-i", "color=red:size=64x64",
                      "-frames:v", "1")


@pytest.fixture(scope="session")
def container(make_media, mic: Path, cover: Path):
    """``container(name)``: the file of :data:`CASES` ``name``, made once per session."""
    def make(name: str) -> Path:
        args, _ = CASES[name]
        return make_media(f"matrix-{name}", *[a.format(mic=mic, cover=cover) for a in args])
    return make


@pytest.fixture(scope="session")
def discontinuity(tmp_path_factory: pytest.TempPathFactory, mic: Path) -> Path:
    """A TS that reconnected: its first 20 s, then (timestamps jumping 5 s ahead) the rest.

    Players show the second part after the jump, so the second burst is at 31 + 5 = 36 s.
    """
    return _reconnected(tmp_path_factory.mktemp("discontinuity"), mic, 5.0)


@pytest.fixture(scope="session")
def gap(tmp_path_factory: pytest.TempPathFactory, mic: Path) -> Path:
    """A TS that reconnected after a long gap: its first 20 s, then (timestamps jumping 15 s
    ahead, past ffmpeg's 10 s for a discontinuity) the rest; made once, only read."""
    return _reconnected(tmp_path_factory.mktemp("gap"), mic, 15.0)


@pytest.fixture(scope="session")
def restarted(tmp_path_factory: pytest.TempPathFactory, mic: Path) -> Path:
    """:func:`_restarted` of :func:`mic` (its timestamps starting again at 0 after 20 s), made
    once, only read. The tests of the reading of its parts make their own: a process keeps
    the parts it read of a file (:func:`m0_plugins.pyav_source.restarts.parts`)."""
    return _restarted(tmp_path_factory.mktemp("restarted"), mic)


@pytest.fixture(scope="session")
def gap_seconds(tmp_path_factory: pytest.TempPathFactory, mic: Path) -> Path:
    """:func:`gap` with :data:`SECONDS`' picture (each frame shows its second), made once,
    only read."""
    return _reconnected(tmp_path_factory.mktemp("gap-seconds"), mic, 15.0, SECONDS)


def _reconnected(folder: Path, mic: Path, jump: float, video: list[str] = VIDEO) -> Path:
    """A TS of ``video`` and ``mic``: their first 20 s, then the rest with timestamps ``jump``
    s ahead."""
    first, second = folder / "a.ts", folder / "b.ts"
    common = ["-map", "0:v", "-map", "1:a", *H264, "-c:a", "aac", "-shortest"]
    run_ffmpeg(*video, "-i", str(mic), *common, "-t", "20", str(first))
    run_ffmpeg("-ss", "20", *video, "-ss", "20", "-i", str(mic), *common,
               "-output_ts_offset", f"{20 + jump:g}", str(second))
    path = folder / "reconnected.ts"
    path.write_bytes(first.read_bytes() + second.read_bytes())
    return path


@pytest.fixture(scope="session")
def obs(make_media, mic: Path):
    """``obs(ext)``: an OBS recording: video, track 1 the game (a steady stereo bed, no
    moments), track 2 the microphone (mono, the moments), titled as OBS users name them."""
    def make(ext: str) -> Path:
        return make_media(f"matrix-obs-two-tracks.{ext}", *VIDEO, *GAME, "-i", str(mic),
                          "-map", "0:v", "-map", "1:a", "-map", "2:a", *H264, "-c:a", "aac",
                          "-ac:a:0", "2",
                          "-metadata:s:a:0", "title=Game", "-metadata:s:a:1", "title=Mic",
                          "-metadata:s:a:1", "language=eng", "-shortest")
    return make


def loud_times(path: Path, audio_track: int | str = 1) -> np.ndarray:
    """The player's times of the 50 ms stretches of ``path``'s audio that are 20 dB or more
    over its median (the bursts)."""
    source = PyAVSource(audio_track=audio_track)
    rate = source.probe(str(path)).sample_rate
    samples = np.concatenate([c.samples for c in source.chunks(str(path))])
    energy = _energy(samples, rate)
    return np.flatnonzero(energy > 100 * np.median(energy)) / 20


def _energy(samples: np.ndarray, rate: int) -> np.ndarray:
    step = rate // 20
    return (samples[: len(samples) // step * step].reshape(-1, step) ** 2).mean(axis=1)


def assert_at_players_times(result, expected: tuple[float, ...], audio_track: int | str = 1,
                            keyframes: bool = True) -> None:
    """Each burst is one highlight within :data:`SLACK` of its player time, and each clip holds
    its moment where the pre-roll says (a copy-mode clip may start up to a GOP earlier)."""
    peaks = [h.peak_time for h in result.highlights]
    assert len(peaks) == len(expected), f"moments at {peaks}, players show {expected}"
    for peak, burst in zip(peaks, expected, strict=True):
        assert abs(peak - (burst + BURST / 2)) <= SLACK, f"{peak} vs players' {burst}"
    assert len(result.clips) == len(expected) and all(c.ok for c in result.clips), \
        [c.error for c in result.clips]
    for clip in result.clips:
        h = clip.highlight
        loud = loud_times(Path(clip.path), audio_track)
        pre = h.peak_time - h.start
        early = GOP if keyframes and result.media.has_video else 0.0
        assert any(pre - SLACK <= t <= pre + early + SLACK for t in loud), (clip.path, loud, pre)


#: The default tier's containers: one of each way a player's times can differ from a decoder's
#: (a sound track late, a stream's offset, lost packets), cover art, 24-bit and 5.1 sound; the
#: slow tier holds the others (MP4's layouts, Opus, FLAC, WebM, FLV, ...).
PLAYERS_TIMES = {"moov-at-end.mp4", "audio-offset.ts", "start-1000.ts", "dropped-packets.mkv",
                 "cover-art.m4a", "24-bit.wav", "surround-5.1.mp4"}


@pytest.mark.parametrize("name", sweep(sorted(CASES), PLAYERS_TIMES))
def test_moments_at_the_players_times_and_clips_hold_them(name, container, tmp_path):
    path = container(name)
    result = analyze(path, tmp_path / "out", report=False)
    assert_at_players_times(result, CASES[name][1])


@pytest.mark.parametrize("name", ["audio-offset.mp4", "audio-offset.ts"])
def test_audio_offset_reports_what_players_show(name, container, tmp_path):
    """In an MPEG-TS whose audio starts 3 s after its video, the ffmpeg source put the moments
    3 s early: ffmpeg itself moves the start of a TS to that of the streams it decodes."""
    path = container(name)
    media = PyAVSource().probe(str(path))
    assert media.tracks[0].start == pytest.approx(3.0, abs=0.05)  # as ffprobe's start_time
    # the default source (pyav) on the same file, with the same check:
    # test_moments_at_the_players_times_and_clips_hold_them
    result = analyze(path, tmp_path / "ffmpeg", source="ffmpeg", report=False)
    assert_at_players_times(result, _shifted(3.0))


def test_a_reconnected_ts_keeps_the_players_position(discontinuity, tmp_path):
    for source in ("pyav", "ffmpeg"):
        result = analyze(discontinuity, tmp_path / source, source=source, report=False)
        assert_at_players_times(result, (BURSTS[0], BURSTS[1] + 5.0))


def test_a_ts_that_reconnected_after_a_long_gap_keeps_the_players_position(gap, tmp_path):
    """A TS whose timestamps jump 15 s ahead: the ffmpeg source closed the gap (ffmpeg
    itself takes a jump of over 10 s in a TS for a discontinuity), putting every later moment
    15 s early, while the pyav source and players keep it."""
    for source in ("pyav", "ffmpeg"):  # 10 s clips: no window starts in the gap (20 to 35 s)
        result = analyze(gap, tmp_path / source, source=source, clip_length=10, report=False)
        assert_at_players_times(result, (BURSTS[0], BURSTS[1] + 15.0))


def _restarted(folder: Path, mic: Path, offset: float = 0.0) -> Path:
    """Two recordings joined with ``cat``: the first 20 s of :data:`SECONDS` and ``mic`` (its
    timestamps ``offset`` s later), then the rest, its timestamps starting again."""
    first, second = folder / "a.ts", folder / "b.ts"
    common = ["-map", "0:v", "-map", "1:a", *H264, "-c:a", "aac", "-shortest"]
    run_ffmpeg(*SECONDS, "-i", str(mic), *common, "-t", "20",
               *(["-output_ts_offset", f"{offset:g}"] if offset else []), str(first))
    run_ffmpeg("-ss", "20", *SECONDS, "-ss", "20", "-i", str(mic), *common, str(second))
    path = folder / "restarted.ts"
    path.write_bytes(first.read_bytes() + second.read_bytes())
    return path


@pytest.mark.parametrize("cut", ["copy", "accurate"])
def test_clips_of_a_ts_whose_timestamps_start_again_hold_their_moment(restarted, tmp_path, cut):
    """Two recordings joined with ``cat``: the first 20 s of a stream, then the rest, its
    timestamps starting again. The moments are where ffmpeg's own decode of the file puts
    them (the time runs on: 11 s and 31 s), but ffmpeg's seek looked the windows up by the
    timestamps, which both parts have: the second clip held a second of the first part's
    end, without its moment. Each clip is cut from its part of the file now, and says where
    it starts in the whole."""
    path = restarted
    result = analyze(path, tmp_path / cut, cut=cut, clip_length=10, report=False)
    assert_at_players_times(result, BURSTS, keyframes=cut == "copy")
    for clip in result.clips:  # its first frame shows the second of the recording it is at
        t, second = seconds_shown(Path(clip.path))[0]
        assert clip.start <= clip.highlight.start and \
            second - 0.2 <= clip.start + t < second + 1.2, (clip.start, t, second)


def test_a_ts_restarting_far_below_its_start_is_not_a_day_long(mic, tmp_path):
    """Timestamps that start again more than 60 s below the first (a live capture's stream
    time, then a new broadcast from 0): FFmpeg takes that for a wrap of the TS clock and adds
    26.5 hours. m0 said '26:14:43 of audio', decoded a day of silence and put the second
    moment at 94 468 s. The recording is as long as its audio now, its moments where players
    show them, each clip cut from its part."""
    path = _restarted(tmp_path, mic, offset=1000.0)
    result = analyze(path, tmp_path / "out", clip_length=10, report=False)
    assert result.media.duration < 60
    assert_at_players_times(result, BURSTS, keyframes=True)
    for clip in result.clips:
        t, second = seconds_shown(Path(clip.path))[0]
        assert second - 0.2 <= clip.start + t < second + 1.2, (clip.start, t, second)


def test_a_copied_clip_of_an_audio_only_ts_says_where_it_starts(make_media, mic, tmp_path):
    """An audio-only MPEG-TS (AAC): ffmpeg's seek lands on the packet of several AAC frames
    that holds the window's start, and its copy starts there, about 0.3 s early, while
    highlights.json's clip_start said the window's start: each moment was 0.3 s later in the
    clip than clip_start + its time there. clip_start is where the clip's sound starts now."""
    path = make_media("matrix-audio-only-aac.ts", "-i", str(mic), "-c:a", "aac")
    result = analyze(path, tmp_path / "out", clip_length=10, report=False)
    assert len(result.clips) == len(BURSTS)
    for clip, burst in zip(result.clips, BURSTS, strict=True):
        assert clip.ok, clip.error
        assert abs(clip.start + loud_times(Path(clip.path))[0] - burst) <= 0.1, clip.start


def test_a_copied_clip_of_an_flv_says_where_it_starts(container, tmp_path):
    """An FLV's copied clip starts with the keyframe before its window, but highlights.json's
    clip_start said the window's start: FFmpeg's FLV demuxer refuses a seek to a time before
    0, which reading the clip's first frames asked for, so each moment was up to a GOP later
    in the clip than clip_start + its time there."""
    result = analyze(container("old-twitch.flv"), tmp_path / "out", clip_length=10,
                     report=False)
    assert len(result.clips) == len(BURSTS)
    for clip, burst in zip(result.clips, BURSTS, strict=True):
        assert clip.ok, clip.error
        assert abs(clip.start + loud_times(Path(clip.path))[0] - burst) <= 0.1, clip.start


def test_a_copied_clip_of_an_mpeg_ps_starts_with_its_window_and_says_so(make_media, mic,
                                                                       tmp_path):
    """An MPEG-PS (.mpg, .vob: a DVD's, a capture card's) has no index, as an MPEG-TS has
    none: FFmpeg's seek to a window's start between two keyframes lands on the later one, so
    a copied clip's picture began up to a GOP after its window, and highlights.json's
    clip_start said the keyframe before it: each moment came 1 s earlier in the clip than
    clip_start + its time there. The clip is sought to the keyframe before its window, as
    an MPEG-TS's is: it begins with the window's picture, and says where."""
    video = ["-f", "lavfi", "-i", f"testsrc2=size=160x60:rate=15:duration={DURATION:g}[t];"
             f"color=black:size=160x60:rate=15:duration={DURATION:g},"
             "geq=lum='16+4*floor(T)':cb=128:cr=128[s];[t][s]vstack"]
    path = make_media("matrix-audio-offset.mpg", *video, "-itsoffset", "3", "-i", str(mic),
                      "-map", "0:v", "-map", "1:a", "-c:v", "mpeg2video", "-g", "15",
                      "-c:a", "mp2")
    result = analyze(path, tmp_path / "out", clip_length=10, report=False)
    assert len(result.clips) == len(BURSTS)
    for clip, burst in zip(result.clips, _shifted(3.0), strict=True):
        assert clip.ok, clip.error
        assert abs(clip.start + loud_times(Path(clip.path))[0] - burst) <= 0.1, clip.start
        t, second = _lower_seconds_shown(Path(clip.path))[0]
        assert second <= clip.highlight.start and abs(clip.start + t - second) <= 0.1, \
            (clip.start, t, second, clip.highlight.start)


def _lower_seconds_shown(path: Path) -> list[tuple[float, int]]:
    """``(time, second of the recording shown)`` of each frame of ``path``, whose lower half
    shows its second as :data:`SECONDS` does, times from its start as players show it."""
    import av

    with av.open(str(path)) as container:
        origin = (container.start_time or 0) / 1_000_000
        stream = container.streams.video[0]
        return [(float(frame.pts * stream.time_base) - origin,
                 round((frame.to_ndarray()[frame.height // 2:frame.height].mean() - 16) / 4))
                for frame in container.decode(stream) if frame.pts is not None]


def test_a_copied_clip_of_an_mp4_cut_after_a_keyframe_says_where_it_starts(
        container, make_media, tmp_path):
    """An MP4 cut by a stream copy 1.32 s after a keyframe starts, by its edit list, 1.32 s
    into the frames it holds. A copied clip whose window starts before the first keyframe
    players show begins with those frames, but clip_start said 0.0: its moment came 1.32 s
    later in the clip than clip_start + its time there. clip_start is negative now, where the
    clip begins before the players' 0."""
    cut = 3.32
    path = make_media("matrix-cut-after-a-keyframe.mp4", "-ss", f"{cut:g}",
                      "-i", str(container("moov-at-end.mp4")), "-c", "copy")
    result = analyze(path, tmp_path / "out", clip_length=20, report=False)
    assert len(result.clips) == len(BURSTS) and result.clips[0].highlight.start == 0.0
    assert result.clips[0].start == pytest.approx(-1.32, abs=0.05)
    for clip, burst in zip(result.clips, BURSTS, strict=True):
        assert clip.ok, clip.error
        moment = burst - cut
        assert abs(clip.start + loud_times(Path(clip.path))[0] - moment) <= 0.1, clip.start


def test_a_cancelled_run_stops_reading_where_the_timestamps_start_again(mic, tmp_path):
    """The first clip of a TS reads its packets to find where its timestamps start again,
    which the clip's ffmpeg timeout does not bound and Ctrl-C (the encoder cancelled) waited
    for, to the file's end. A cancelled run stops reading and keeps nothing; the next finds
    the parts."""
    from m0_plugins.pyav_source.restarts import parts

    media = probe(_restarted(tmp_path, mic))  # its own: the parts read are kept per process
    assert parts(media, stopped=lambda: True) == []
    found = parts(media)
    assert [round(p.start) for p in found] == [0, 20] and found[0].end == found[1].begin


def test_a_plain_ts_is_not_read_whole_to_find_where_its_timestamps_start_again(
        mic, tmp_path, monkeypatch):
    """Reading every packet of a TS to find where its timestamps start again took 8 s of a
    6-hour recording's run (14 % of it), for every TS. Its timestamps are looked at every few
    seconds of the file first: a plain TS is not read whole; a restarted one still is."""
    from m0_plugins.pyav_source import restarts

    plain = tmp_path / "plain.ts"
    run_ffmpeg(*SECONDS, "-i", str(mic), "-map", "0:v", "-map", "1:a", *H264, "-c:a", "aac",
               "-shortest", str(plain))
    restarted = probe(_restarted(tmp_path, mic))  # its own, as above
    read = []
    scan = restarts._scan
    monkeypatch.setattr(restarts, "_scan", lambda path, stopped: read.append(path) or scan(
        path, stopped))
    assert restarts.parts(probe(plain)) == [] and read == []
    assert len(restarts.parts(restarted)) == 2 and read == [str(restarted.path)]


def test_thumbnails_of_a_ts_whose_timestamps_start_again_show_their_moment(restarted, tmp_path):
    """report.html's picture of a moment after the timestamps start again (two recordings
    joined with ``cat``) was missing: the frame was looked up by the timestamps, past every
    one of the part it lies in. Each is grabbed from its part now, the frame at its peak."""
    import av

    from m0_plugins.writers.thumbnails import make_thumbnails

    path = restarted
    moments = [Highlight(t - 5, t + 5, t, -6.0, 1.0, index=i + 1)
               for i, t in enumerate((11.5, 31.5, 40.5))]
    made = make_thumbnails(probe(path), moments, tmp_path)
    assert sorted(made) == [1, 2, 3]
    for h in moments:  # a JPEG's full range: luma 16 + 4 x the second is 255/219 x 4 x it
        with av.open(str(made[h.index])) as picture:
            luma = next(picture.decode(video=0)).to_ndarray(format="gray").mean()
        assert abs(luma / (4 * 255 / 219) - h.peak_time) <= 1.0, (h.peak_time, luma)


def test_clips_of_a_window_in_a_reconnected_ts_gap_hold_their_moment(gap, tmp_path):
    """A TS whose timestamps jump 15 s ahead (20 s to 35 s), the second moment's 30 s window
    starting in the gap: ffmpeg closed such a jump when cutting (as it does in a TS over
    10 s), so the accurate and smart clips began 15 s late in the stream, short and without
    their moment, and the copy clip held it 15 s early. Each now holds it where the window
    says (a copy clip: from the keyframe before the window, before the gap)."""
    path = gap
    expected = (BURSTS[0], BURSTS[1] + 15.0)
    for cut in ("accurate", "smart"):
        result = analyze(path, tmp_path / cut, cut=cut, report=False)
        assert_at_players_times(result, expected, keyframes=False)
        for clip in result.clips:  # the window's sound, silence where the gap is
            assert len(loud_times(Path(clip.path))) and \
                probe(clip.path).duration == pytest.approx(30.0, abs=0.1), clip.path
    result = analyze(path, tmp_path / "copy", report=False)
    clip = result.clips[1]
    keyframe = keyframe_before(video_frames(path, clip.highlight.start, clip.highlight.start),
                               clip.highlight.start)
    loud = loud_times(Path(clip.path))
    assert abs(loud[0] - (expected[1] - keyframe)) <= SLACK, (loud, keyframe)


#: Video whose frames show their second of the recording: luma 16 + 4 × the second.
SECONDS = ["-f", "lavfi", "-i", f"color=black:size=160x120:rate=15:duration={DURATION:g},"
           "geq=lum='16+4*floor(T)':cb=128:cr=128"]


def seconds_shown(path: Path) -> list[tuple[float, int]]:
    """``(time, second of the recording shown)`` of each frame of ``path`` (:data:`SECONDS`),
    times from its start as players show it."""
    import av

    with av.open(str(path)) as container:
        origin = (container.start_time or 0) / 1_000_000
        stream = container.streams.video[0]
        return [(float(frame.pts * stream.time_base) - origin,
                 round((frame.to_ndarray()[:frame.height].mean() - 16) / 4))
                for frame in container.decode(stream)]


@pytest.mark.parametrize("cut", ["accurate", "smart"])
def test_a_clip_from_a_reconnected_ts_gap_shows_the_frame_players_hold(gap_seconds, tmp_path,
                                                                      cut):
    """A TS whose timestamps jump 15 s ahead (20 s to 35 s) and a clip of 25 s to 55 s: players
    hold the last frame before the gap (its 19th second) until the video resumes at 35 s. The
    re-encoded clip's picture began only 10 s in, with nothing before; it shows that frame
    from its start now, then the video from where it resumes, in step with its sound."""
    from m0_plugins.ffmpeg_encoder.encoder import FFmpegEncoder

    path = gap_seconds
    with FFmpegEncoder(probe(path), tmp_path / cut, cut=cut) as encoder:
        clip = encoder.submit(Highlight(25.0, 55.0, 46.0, -6.0, 1.0, index=1)).result()
    assert clip.ok, clip.error
    shown = seconds_shown(Path(clip.path))
    assert shown[0][0] <= 0.07 and shown[0][1] == 19, shown[:3]
    for t, second in shown:  # the recording's second 20 is shown from 35 s on
        expected = 19 if t < 10.0 else int(25.0 + t - 15.0)
        assert abs(second - expected) <= (1 if abs(t - round(t)) < 0.07 else 0), (t, second)
    loud = loud_times(Path(clip.path))
    assert abs(loud[0] - (BURSTS[1] + 15.0 - 25.0)) <= 0.1, loud


def test_compilation_of_clips_over_a_reconnected_ts_gap_stays_in_sync(gap, tmp_path):
    """A TS whose timestamps jump 15 s ahead (20 s to 35 s): the first clip's window (0 to
    30 s) has no picture after 20 s. The compilation held a clip's picture a second past its
    end, so every later clip's picture came 9 s before its sound; the last frame is held
    now, and the picture lasts as long as the sound."""
    import av

    path = gap
    result = analyze(path, tmp_path / "out", fade=0.5, compilation=True, report=False)
    assert result.compilation.ok and len(result.compilation.clips) == 2
    with av.open(result.compilation.path) as container:
        stream = container.streams.video[0]
        frames = sum(1 for p in container.demux(stream) if p.pts is not None)
        assert frames / stream.average_rate == pytest.approx(result.compilation.duration,
                                                            abs=0.2)


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_chapters_of_a_reconnected_ts_keep_the_players_times(gap, tmp_path, ext):
    """``m0 chapters`` of a TS whose timestamps jump 15 s ahead: ffmpeg's copy closed the
    gap, so the copy lasted 44 s, its second moment at 31 s under chapters at the players'
    times (up to 59 s, past its end). The copy keeps the gap now, the moment under its
    chapter."""
    path = gap
    moment = BURSTS[1] + 15.0
    out = embed_chapters(path, [Highlight(moment - 5, moment + 5, moment, -6.0, 1.0, index=1)],
                         tmp_path / f"chapters.{ext}")
    assert probe(out).duration == pytest.approx(probe(path).duration, abs=0.1)
    assert any(abs(t - moment) <= SLACK for t in loud_times(out))


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_chapters_of_an_mp4_cut_after_a_keyframe_are_where_its_moments_play(
        container, make_media, tmp_path, ext):
    """An MP4 cut by a stream copy 1.32 s after a keyframe (keyframes every 2 s) starts, by
    its edit list, 1.32 s into the frames it holds. A Matroska copy, which has no edit list,
    starts with those frames, so its moments came 1.32 s after their chapters; each chapter
    now starts where its window does in the copy as it plays (in an MP4 copy it always did)."""
    cut = 3.32
    path = make_media("matrix-cut-after-a-keyframe.mp4", "-ss", f"{cut:g}",
                      "-i", str(container("moov-at-end.mp4")), "-c", "copy")
    moments = [b - cut for b in BURSTS]
    assert [t for t in loud_times(path) if any(abs(t - m) <= 0.1 for m in moments)]
    out = embed_chapters(path, [Highlight(m - 5, m + 5, m, -6.0, 1.0, index=i + 1)
                                for i, m in enumerate(moments)], tmp_path / f"copy.{ext}")
    starts = [s for s, _, title in chapters_of(out) if title.startswith("Highlight ")]
    loud = loud_times(out)
    assert len(starts) == len(moments)
    for start in starts:
        assert any(abs(t - (start + 5)) <= 0.1 for t in loud), (start, loud)


def test_ts_starting_at_1000_s_with_the_ffmpeg_source(container, tmp_path):
    result = analyze(container("start-1000.ts"), tmp_path / "out", source="ffmpeg",
                     report=False)
    assert_at_players_times(result, BURSTS)


def test_segments_of_an_offset_file_equal_the_whole(container):
    """Segment workers (the pyav source, which seeks exactly) seek on the same timeline as a
    whole-file decode."""
    path = str(container("audio-offset.mp4"))
    src = PyAVSource()
    whole = np.concatenate([c.samples for c in src.chunks(path, chunk_seconds=4)])
    rate = src.probe(path).sample_rate
    parts = [np.concatenate([c.samples for c in src.chunks(path, chunk_seconds=4, start=s,
                                                            duration=d)])
             for s, d in ((0.0, 13.0), (13.0, 17.0), (30.0, None))]
    joined = np.concatenate(parts)
    assert abs(len(joined) - len(whole)) <= 2
    n = min(len(joined), len(whole))
    joined, whole = joined[:n], whole[:n]
    # The noise bed is the same sample for sample (any shift would show); a resumed AAC
    # decoder rounds a burst's transients differently, so there only the levels are compared.
    seconds = np.arange(n) / rate
    bed = np.ones(n, dtype=bool)
    for burst in _shifted(3.0):
        bed &= (seconds < burst - 0.1) | (seconds > burst + BURST + 0.2)
    np.testing.assert_allclose(joined[bed], whole[bed], atol=2e-3)
    db = [10 * np.log10(_energy(x, rate) + 1e-12) for x in (joined, whole)]
    np.testing.assert_allclose(db[0], db[1], atol=2.0)


def test_a_segment_of_a_matroska_track_that_starts_after_it_is_decoded(make_media, mic):
    """A 70 s MKV whose second audio track starts 40 s in (a microphone added to the
    recording later), its segment from 1 s: the track has no packet in the 30 s read after
    the seek, so the seek was made on the track, which Matroska does not index, and FFmpeg
    refused it: m0 analyze --audio-track 2 of such a recording of 10 minutes or more (a
    segment starting before the track does) ended 'Error: plugin "pyav-source" ...:
    PermissionError: [Errno 1] Operation not permitted'. The segment is the whole decode's
    from its start: silence, then the track."""
    long = [a.replace(f"duration={DURATION:g}", "duration=70") for a in [*VIDEO, *GAME]]
    path = str(make_media("matrix-track-two-from-40s.mkv", *long, "-itsoffset", "40",
                          "-i", str(mic), "-map", "0:v", "-map", "1:a", "-map", "2:a", *H264,
                          "-c:a", "aac", "-t", "70"))
    src = PyAVSource(audio_track=2)
    rate = src.probe(path).sample_rate
    whole = np.concatenate([c.samples for c in src.chunks(path)])
    part = np.concatenate([c.samples for c in src.chunks(path, start=1.0)])
    assert abs(len(part) - (len(whole) - rate)) <= 2
    n = min(len(part), len(whole) - rate)
    np.testing.assert_allclose(part[:n], whole[rate:rate + n], atol=2e-3)
    assert not np.any(part[:int(38 * rate)]) and np.any(part[int(39.1 * rate):])


@pytest.fixture(scope="session")
def second_track_from_8s(make_media, mic: Path) -> Path:
    """An MPEG-TS whose second audio track (the mic again, 8 s later) begins after the 5 s
    FFmpeg's probe reads: FFmpeg knows no sample rate of it."""
    return make_media("matrix-ts-second-track-from-8s.ts", *VIDEO, "-i", str(mic),
                      "-itsoffset", "8", "-i", str(mic), "-map", "0:v", "-map", "1:a",
                      "-map", "2:a", *H264, "-c:a", "aac", "-t", f"{DURATION:g}")


def test_clips_of_a_ts_whose_second_track_starts_late_keep_it(second_track_from_8s, tmp_path):
    """An MPEG-TS whose second audio track begins 8 s in (after the 5 s FFmpeg's probe
    reads; here the mic again, 8 s later): FFmpeg knows no sample rate of that track, and
    every copied clip failed ('ffmpeg failed: sample rate not set', 'Error: 2 of 2 clips
    failed'), of track 1's moments as of track 2's (--audio-track 2 with the ffmpeg source,
    which decodes it). A clip keeps both tracks, that one encoded, each moment on its track
    where highlights.json says."""
    path = second_track_from_8s
    assert [t.sample_rate for t in probe(path).tracks] == [48000, 0]
    for track, source, moments in ((1, "pyav", BURSTS), (2, "ffmpeg", _shifted(8.0))):
        result = analyze(path, tmp_path / str(track), source=source, audio_track=track,
                         clip_length=10, report=False)
        assert_at_players_times(result, moments, audio_track=track)
        for clip in result.clips:
            assert [t.sample_rate for t in probe(clip.path).tracks] == [48000, 48000]


@pytest.mark.parametrize("track", ["2", "all"])
def test_a_track_whose_rate_ffmpegs_probe_did_not_find_says_how_to_read_it(
        second_track_from_8s, tmp_path, track):
    """m0 analyze --audio-track 2 (or all) of an MPEG-TS whose second audio track begins
    after the 5 s FFmpeg's probe reads said 'not a media file m0 can read (no audio FFmpeg
    can decode was found in it)' of a file it reads (track 1), or that its tracks' 'different
    sample rates (0, 48000 Hz) cannot be mixed'. It says which track FFmpeg's probe found no
    sample rate of and that the ffmpeg source reads it."""
    proc = run_m0("analyze", str(second_track_from_8s), str(tmp_path / "out"), "--no-clips",
                  "--audio-track", track)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line == (f"Error: {second_track_from_8s}: FFmpeg's probe found no sample rate of "
                    "audio track 2 (a track that begins after the first seconds of the "
                    "file?): --source ffmpeg reads it"), line
    assert run_m0("analyze", str(second_track_from_8s), str(tmp_path / "ffmpeg"), "--no-clips",
                  "--audio-track", track, "--source", "ffmpeg").returncode == 0


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_chapters_of_a_ts_whose_second_track_starts_late_keep_it(second_track_from_8s,
                                                                 tmp_path, ext):
    """m0 chapters of an MPEG-TS whose second audio track begins after the 5 s FFmpeg's
    probe reads ended 'Error: ...: stream.ts (h264 video, aac audio, aac audio) cannot be
    copied into .mkv as it is: sample rate not set' (.mp4 likewise, adding '; write an .mkv
    instead'). The copy keeps that track, encoded, its moment under its chapter."""
    moment = BURSTS[1] + 8.0
    out = embed_chapters(second_track_from_8s,
                         [Highlight(moment - 5, moment + 5, moment, -6.0, 1.0, index=1)],
                         tmp_path / f"chapters.{ext}")
    assert [t.sample_rate for t in probe(out).tracks] == [48000, 48000]
    assert any(abs(t - moment) <= SLACK for t in loud_times(out, 2))
    assert any(abs(t - BURSTS[1]) <= SLACK for t in loud_times(out, 1))


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_obs_two_tracks_mic_track_and_all_find_the_mic(obs, ext, tmp_path):
    path = obs(ext)
    game = analyze(path, None, clips=False, report=False)
    assert not any(abs(h.peak_time - b) < 3 for h in game.highlights for b in BURSTS)
    for track in (2, "all"):
        result = analyze(path, tmp_path / str(track), audio_track=track, report=False)
        assert result.source.params["audio_track"] == track
        assert_at_players_times(result, BURSTS, audio_track=track)
        for clip in result.clips:  # the editor still gets the game and the mic apart
            tracks = PyAVSource().probe(clip.path).tracks
            assert [t.title for t in tracks] == ["Game", "Mic"]


@pytest.mark.parametrize("cut", sweep(["accurate", "smart"], {"smart"}))
@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_re_encoded_clips_of_obs_two_tracks_keep_both_named(obs, ext, cut, tmp_path):
    """--cut smart kept both audio tracks of an OBS recording in MP4 but not their names:
    an editor got two untitled tracks where a copied clip has "Game" and "Mic". Each
    re-encoded clip keeps both, named, its moment where the window says on the mic's."""
    result = analyze(obs(ext), tmp_path / "out", audio_track=2, cut=cut, clip_length=10,
                     report=False)
    assert_at_players_times(result, BURSTS, audio_track=2, keyframes=False)
    for clip in result.clips:
        assert clip.start == clip.highlight.start
        tracks = PyAVSource().probe(clip.path).tracks
        assert [t.title for t in tracks] == ["Game", "Mic"], clip.path


@pytest.mark.parametrize("movflags", [
    pytest.param("+faststart", id="mp4"),
    pytest.param("frag_keyframe+empty_moov+default_base_moof", id="fragmented")])
def test_a_copied_clip_after_an_audio_track_ended_starts_with_its_window(make_media, mic,
                                                                         tmp_path, movflags):
    """An MP4 whose second audio track ends 5 s in (a device unplugged, a source removed):
    FFmpeg's seek puts that track on its last sample, which the copy of a later window kept,
    so the clip began with it, 5 s of nothing before the keyframe (a 36 s clip of a 30 s
    window, its moment 6 s late). Such a clip leaves the track out; one whose window the
    track reaches keeps it."""
    kind = "fragmented" if movflags.startswith("frag") else "faststart"
    path = make_media(f"matrix-obs-short-track-{kind}.mp4", *VIDEO, "-i", str(mic),
                      *GAME, "-filter_complex", "[2:a]atrim=end=5[game]", "-map", "0:v",
                      "-map", "1:a", "-map", "[game]", *H264, "-c:a", "aac",
                      "-metadata:s:a:0", "title=Mic", "-metadata:s:a:1", "title=Game",
                      "-movflags", movflags)
    result = analyze(path, tmp_path / "out", report=False)
    assert_at_players_times(result, BURSTS)
    titles = [[t.title for t in PyAVSource().probe(c.path).tracks] for c in result.clips]
    assert titles == [["Mic", "Game"], ["Mic"]]
    for clip in result.clips:
        h = clip.highlight
        assert probe(clip.path).duration <= h.end - h.start + GOP + 0.1
        assert any(abs(clip.start + t - b) <= SLACK for t in loud_times(Path(clip.path))
                   for b in BURSTS)


def test_a_copied_mp4_clip_is_read_from_its_own_boxes_where_every_track_reaches_its_window(
        make_media, mic, tmp_path):
    """What the seek put before a copied clip's window was read by opening every copied clip
    with FFmpeg's demuxer (~10 MiB more of m0's peak on a run with clips). An MP4 clip whose
    boxes show every track reaching its window is not opened; one whose track ended before
    its window still is, and its track is left out as before."""
    from m0_plugins.ffmpeg_encoder.keyframes import _reaches_window, copied_streams

    path = make_media("matrix-obs-short-track-faststart.mp4", *VIDEO, "-i", str(mic),
                      *GAME, "-filter_complex", "[2:a]atrim=end=5[game]", "-map", "0:v",
                      "-map", "1:a", "-map", "[game]", *H264, "-c:a", "aac",
                      "-metadata:s:a:0", "title=Mic", "-metadata:s:a:1", "title=Game",
                      "-movflags", "+faststart")
    copies = {}
    for at in (0.0, 30.0):  # the game track reaches the first window, not the second
        copies[at] = tmp_path / f"copy-{at:g}.mp4"
        run_ffmpeg("-ss", f"{at:g}", "-i", str(path), "-t", "4", "-map", "0", "-c", "copy",
                   "-avoid_negative_ts", "make_zero", str(copies[at]))
    assert _reaches_window(copies[0.0], 4.0)
    assert copied_streams(copies[0.0], 4.0).tracks is None
    assert not _reaches_window(copies[30.0], 4.0)
    assert copied_streams(copies[30.0], 4.0).tracks == [1]


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_a_copied_clip_of_sound_under_a_still_picture_is_its_window(make_media, mic, tmp_path,
                                                                    ext):
    """A podcast whose cover is a video of one frame (not marked as a cover picture): FFmpeg's
    seek lands on that frame, the only keyframe, so every copied clip ran from the start of
    the recording to its window's end (a 41 s clip of a 30 s window; 90 minutes for a moment
    at 1:30:00). A clip whose picture ends before its window is its window's sound; the
    compilation of such clips and others is their sound."""
    path = make_media(f"matrix-still-picture.{ext}", "-f", "lavfi", "-i",
                      "color=c=red:size=64x64:duration=0.1", "-i", str(mic), *H264,
                      "-c:a", "aac")
    result = analyze(path, tmp_path / "out", report=False, compilation=True)
    assert len(result.clips) == len(BURSTS) and all(c.ok for c in result.clips)
    assert result.compilation.ok, result.compilation.error
    assert probe(result.compilation.path).duration == pytest.approx(
        sum(probe(c.path).duration for c in result.clips), abs=0.5)
    for clip, burst in zip(result.clips, BURSTS, strict=True):
        h = clip.highlight
        assert probe(clip.path).duration <= h.end - h.start + 0.5
        loud = loud_times(Path(clip.path))
        assert any(abs(clip.start + t - burst) <= 0.1 for t in loud), (clip.start, loud)


def test_obs_track_two_with_the_ffmpeg_source(obs, tmp_path):
    for track in (2, "all"):
        result = analyze(obs("mkv"), tmp_path / str(track), source="ffmpeg", audio_track=track,
                         report=False)
        assert_at_players_times(result, BURSTS, audio_track=track)


def test_the_audio_track_is_part_of_the_cache_identity(obs):
    path = obs("mkv")
    mic_run = analyze(path, None, clips=False, audio_track=2)
    game_run = analyze(path, None, clips=False, audio_track=1)
    again = analyze(path, None, clips=False, audio_track=2)
    assert game_run.timings["cached"] == 0.0 and again.timings["cached"] == 1.0
    assert [h.peak_time for h in again.highlights] == [h.peak_time for h in mic_run.highlights]
    assert not np.array_equal(game_run.scores, mic_run.scores)


def test_m0_probe_lists_the_tracks(obs, container):
    proc = run_m0("probe", str(obs("mkv")))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].strip().startswith('track 1 "Game": aac, 2 ch, 48000 Hz, starts at 0.000')
    assert lines[2].strip().startswith('track 2 "Mic" (eng): aac, 1 ch, 48000 Hz')
    proc = run_m0("probe", "--json", str(container("audio-offset.mp4")))
    (track,) = json.loads(proc.stdout)["audio_tracks"]
    assert track["start"] == pytest.approx(3.0, abs=0.05)


def test_analyze_and_batch_take_audio_track(obs, tmp_path):
    path = obs("mkv")
    proc = run_m0("analyze", str(path), str(tmp_path / "one"), "--audio-track", "2", "-v",
                  "--no-clips", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert 'audio: track 2 "Mic" (eng)' in proc.stdout and "(of 2)" in proc.stdout
    doc = json.loads((tmp_path / "one" / "highlights.json").read_text())
    assert [round(h["peak_time"]) for h in doc["highlights"]] == [round(b) for b in BURSTS]
    assert doc["source"]["plugin"] == "pyav" and len(doc["source"]["audio_tracks"]) == 2
    proc = run_m0("batch", str(path), str(tmp_path / "many"), "--audio-track", "all",
                  "--no-clips", "--no-report", "-q")
    assert proc.returncode == 0, proc.stderr
    (folder,) = (tmp_path / "many").glob("*_highlights")
    doc = json.loads((folder / "highlights.json").read_text())
    assert [round(h["peak_time"]) for h in doc["highlights"]] == [round(b) for b in BURSTS]


def test_highlights_json_says_which_audio_track_was_analysed(obs, tmp_path):
    """highlights.json (and --json) of a run on an OBS recording's microphone listed the file's
    tracks but not which was analysed, as if it were the game's: its source says so."""
    for track in (1, 2, "all"):
        proc = run_m0("analyze", str(obs("mkv")), str(tmp_path / str(track)), "--no-clips",
                      "--no-report", "--json", "--audio-track", str(track))
        assert proc.returncode == 0, proc.stderr
        written = json.loads((tmp_path / str(track) / "highlights.json").read_text())
        assert json.loads(proc.stdout)["source"]["audio_track"] == track
        assert written["source"]["audio_track"] == track


@pytest.mark.parametrize("args, code, message", [
    (["--audio-track", "3"], 1,
     "has no audio track 3 (it has only 2 audio tracks; 'm0 probe' lists them)"),
    (["--audio-track", "3", "--source", "ffmpeg"], 1, "has no audio track 3"),
    (["--audio-track", "0"], 2, "the audio track must be a track number from 1 or 'all'"),
    (["--audio-track", "mic"], 2, "the audio track must be a track number from 1 or 'all'"),
])
def test_a_track_that_does_not_exist_is_one_line(obs, tmp_path, args, code, message):
    proc = run_m0("analyze", str(obs("mkv")), str(tmp_path / "out"), *args)
    assert proc.returncode == code
    (line,) = proc.stderr.strip().splitlines()
    assert message in line
    assert not (tmp_path / "out").exists()


def test_mixing_tracks_of_different_rates_is_one_line(make_media, mic, tmp_path):
    path = make_media("matrix-two-rates.mkv", *GAME, "-i", str(mic), "-map", "0:a", "-map", "1:a",
                      "-ar:a:1", "44100", "-c:a", "flac")
    proc = run_m0("analyze", str(path), str(tmp_path / "out"), "--audio-track", "all")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "different sample rates (44100, 48000 Hz)" in line
    assert "--audio-track N" in line


def test_a_wav_has_one_track(container, tmp_path):
    proc = run_m0("analyze", str(container("audio.wav")), str(tmp_path / "out"),
                  "--audio-track", "2", "--source", "soundfile")
    assert proc.returncode == 1
    assert "has no audio track 2 (it has one audio track" in proc.stderr


def test_the_seed_api_takes_audio_track(obs):
    from m0core import StreamingAudioProcessor

    levels = list(StreamingAudioProcessor(obs("mp4"), audio_track=2).decibel_iter())
    loudest = max(levels, key=lambda pair: pair[1])[0]
    assert any(b <= loudest <= b + BURST for b in BURSTS)


@pytest.mark.parametrize(("case", "track"), [("obs", 2), ("obs", 1), ("offset", 1)])
def test_the_mp4_reader_reads_the_chosen_track_on_the_players_timeline(
        case, track, obs, container, monkeypatch):
    """m0's own MP4 reader (not FFmpeg's demuxer) reads track N of an mp4, a late start as
    silence from the container's start, and gives the samples FFmpeg's demuxer path gives;
    ``"all"`` (tracks mixed) is left to FFmpeg's demuxer."""
    from m0_plugins.pyav_source import source as pyav

    path = str(obs("mp4") if case == "obs" else container("audio-offset.mp4"))
    assert pyav._mp4_reader(Path(path), track) is not None
    assert pyav._mp4_reader(Path(path), "all") is None
    src = PyAVSource(audio_track=track)
    mine = np.concatenate([c.samples for c in src.chunks(path, chunk_seconds=3.3)])
    media = src.probe(path)
    with monkeypatch.context() as m:
        m.setattr(pyav, "_mp4_reader", lambda *_args: None)
        theirs = np.concatenate([c.samples for c in src.chunks(path, chunk_seconds=3.3)])
        ffmpeg_media = src.probe(path)
    assert (media.sample_rate, media.channels, media.tracks) == (
        ffmpeg_media.sample_rate, ffmpeg_media.channels, ffmpeg_media.tracks)
    n = min(len(mine), len(theirs))
    assert abs(len(mine) - len(theirs)) <= 2048 and n > 40 * media.sample_rate
    np.testing.assert_allclose(mine[:n], theirs[:n], atol=1e-6)
    if case == "offset":  # 3 s of silence, then the mic's bed
        rate = media.sample_rate
        assert not np.any(mine[:int(2.9 * rate)]) and np.any(mine[int(3.1 * rate):int(4 * rate)])


@pytest.mark.parametrize("name", ["start-1000.ts", "reconnected.ts", "obs.ts", "obs.mkv",
                                  "dropped-packets.mkv", "cover-art.mkv", "vp8-opus.webm"])
def test_a_matroska_or_ts_outline_is_the_probe(name, container, discontinuity, obs):
    """What m0 reads of a Matroska file's header, or of a TS's program map and first and last
    packets, without FFmpeg's libraries, is what FFmpeg's demuxer says of it, track by track:
    the duration to the microsecond (a TS's from its timestamps, a jump included), the start
    of a TS at 1000 s, an attachment that is no video, an Opus track."""
    path = str(discontinuity if name == "reconnected.ts" else obs(name[4:])
               if name.startswith("obs") else container(name))
    count = len(PyAVSource().probe(path).tracks)
    for track in range(1, count + 1):
        src = PyAVSource(audio_track=track)
        assert src.outline(path) == src.probe(path)
    assert PyAVSource(audio_track=count + 1).outline(path) is None  # the probe says why


def test_a_matroska_file_whose_times_start_late_lasts_what_it_plays(make_media, mic,
                                                                   tmp_path):
    """A Matroska file whose timestamps start at 7.5 s (its Duration, 51.5 s, is where its
    timeline ends): m0 said it lasted 51.5 s (the probe, the header's outline and the ffmpeg
    source alike), so the window of a moment near its end ran 7.5 s past it and the clip was
    that much short. It lasts the 44 s it plays, from its start (m0's 0)."""
    path = make_media("start-7.5.mkv", *VIDEO, "-i", str(mic), *H264, "-c:a", "aac",
                      "-shortest", "-output_ts_offset", "7.5")
    source = PyAVSource()
    for info in (source.probe(str(path)), source.outline(str(path)), probe(path)):
        assert info.duration == pytest.approx(DURATION, abs=0.1)
    result = analyze(path, tmp_path / "out", clip_length=30, pre=8, report=False)
    assert_at_players_times(result, BURSTS)
    last = result.highlights[-1]
    assert last.end <= DURATION + 0.1
    assert probe(result.clips[-1].path).duration == pytest.approx(last.duration, abs=0.2)


def test_an_ogg_opus_captured_from_a_live_stream_is_not_said_to_be_cut_short(make_media, mic,
                                                                            tmp_path):
    """An Ogg Opus file whose granule positions start at 100 s (a capture of an Icecast
    stream, saved as it came): FFmpeg declares it 144 s long, where its timeline ends, not
    the 44 s it plays from its start (as a Matroska file's Duration). m0 probe said 2:24,
    and m0 analyze and m0 chapters warned 'looks cut short: its audio ends at 44.0 s of the
    144.0 s it declares' of a whole file. It lasts what it plays, and nothing is said."""
    path = make_media("matrix-live-capture.opus", "-itsoffset", "100", "-i", str(mic),
                      "-c:a", "libopus")
    for info in (PyAVSource().probe(str(path)), probe(path)):
        assert info.duration == pytest.approx(DURATION, abs=0.1)
    for source in ("pyav", "ffmpeg"):
        result = analyze(path, tmp_path / source, source=source, clip_length=10, report=False)
        assert result.warnings == ()
        assert_at_players_times(result, BURSTS)
    said = run_m0("probe", str(path))
    assert said.returncode == 0 and "audio, 0:44 (ogg)" in said.stdout, said.stdout


def test_a_live_matroska_and_other_files_have_no_outline(make_media, container):
    """A Matroska file written as a stream (no duration, sizes unknown) and files that are no
    MP4, Matroska or TS are left to FFmpeg's probe."""
    live = make_media("live.mkv", "-f", "lavfi", "-i", "sine=d=3", "-c:a", "aac",
                      "-f", "matroska", "-live", "1")
    for path in (live, container("audio.wav"), container("old-twitch.flv")):
        assert PyAVSource().outline(str(path)) is None


@pytest.mark.parametrize("ext", ["mkv", "ts"])
def test_a_run_on_matroska_or_ts_plans_without_a_decoder(ext, obs):
    """With worker processes decoding (the default), m0's own process plans a run on an mkv
    or a TS without loading FFmpeg's libraries, and the file is described as the probe does."""
    import subprocess
    import sys

    path = obs(ext)
    code = ("import json, sys, m0core\n"
            f"r = m0core.analyze({str(path)!r}, None, clips=False, jobs=2, cache=False, "
            "audio_track=2)\n"
            "print(json.dumps([r.media.duration, len(r.highlights), 'av' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    probed = PyAVSource(audio_track=2).probe(str(path))
    assert json.loads(out.stdout) == [probed.duration, 2, False]


# -- a duration declared short, or none ---------------------------------------------------------

def _moments(tmp_path: Path, name: str, audio: list[str], seconds: float) -> Path:
    """``seconds`` of a quiet tone under noise for the first half only (so a VBR encoder's
    first frames are its largest), with 3 s noise bursts at 20 s, 45 s and ``seconds`` - 10 s,
    encoded by ``audio`` (ffmpeg output arguments) into ``name``."""
    path = tmp_path / name
    last = seconds - 10
    loud = f"lt(t,{seconds / 2:g})+5*(between(t,20,23)+between(t,45,48)" \
           f"+between(t,{last:g},{last + 3:g}))"
    run_ffmpeg("-f", "lavfi", "-i", f"sine=f=300:r=44100:d={seconds:g}",
               "-f", "lavfi", "-i", f"anoisesrc=c=white:a=0.05:r=44100:d={seconds:g}:seed=5",
               "-filter_complex", f"[0]volume=0.02[s];[1]volume='{loud}':eval=frame[n];"
               "[s][n]amix=inputs=2:normalize=0,aformat=channel_layouts=stereo",
               *audio, str(path))
    return path


@pytest.fixture(scope="module")
def noxing_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`_moments` of 120 s as a VBR MP3 without a Xing header, made once, only read."""
    return _moments(tmp_path_factory.mktemp("noxing"), "noxing.mp3",
                    ["-c:a", "libmp3lame", "-q:a", "0", "-write_xing", "0"], 120.0)


@pytest.mark.parametrize("source", ["pyav", "ffmpeg"])
def test_an_mp3_declared_short_is_read_to_its_end(source, noxing_mp3, tmp_path):
    """A VBR MP3 without a Xing header: FFmpeg estimates its duration from its first frame's
    bitrate (here far too short). Every moment is found, the last at its time, its clip
    holds it, and the duration said is the audio's."""
    path = noxing_mp3
    declared = probe(path).duration
    assert declared < 100, "the test needs a duration FFmpeg estimates short"
    out = tmp_path / f"out-{source}"
    run = run_m0("analyze", str(path), str(out), "--source", source, "-l", "10", "--no-report")
    assert run.returncode == 0, run.stderr
    doc = json.loads((out / "highlights.json").read_text())
    assert doc["source"]["duration"] == pytest.approx(120.0, abs=0.2)
    peaks = [h["peak_time"] for h in doc["highlights"]]
    assert len(peaks) == 3 and peaks[-1] == pytest.approx(111.5, abs=2.0)
    last = doc["highlights"][-1]
    assert last["start"] < last["peak_time"] < last["end"] <= 120.2
    assert "in 2:00 of audio" in run.stdout
    _assert_clip_holds(out / last["clip"], last["peak_time"] - last["start"])


def test_a_webm_that_declares_no_duration_keeps_windows_inside_it(tmp_path):
    """A recorder's WebM (written to a pipe: no duration): the duration said is the audio's
    and the last moment's window ends with the file, shifted back to its full length."""
    path = tmp_path / "rec.webm"
    made = _moments(tmp_path, "rec.wav", [], 90.0)
    with path.open("wb") as sink:
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(made),
                        "-c:a", "libopus", "-f", "webm", "-"], stdout=sink, check=True)
    assert probe(path).duration is None
    said = run_m0("probe", str(path))
    assert said.returncode == 0 and "audio, duration not declared (matroska,webm)" in said.stdout
    out = tmp_path / "out"
    run = run_m0("analyze", str(path), str(out), "-l", "30", "--no-clips", "--no-report")
    assert run.returncode == 0, run.stderr
    doc = json.loads((out / "highlights.json").read_text())
    assert doc["source"]["duration"] == pytest.approx(90.0, abs=0.2)
    last = doc["highlights"][-1]
    assert last["peak_time"] == pytest.approx(81.5, abs=2.0)
    assert last["end"] == pytest.approx(90.0, abs=0.2) and last["start"] == pytest.approx(
        last["end"] - 30.0, abs=0.01)


def _assert_clip_holds(clip: Path, at: float) -> None:
    """The clip's loudest second is around ``at`` s into it."""
    wav = clip.with_suffix(".check.wav")
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(clip),
                    "-ac", "1", str(wav)], check=True)
    samples, rate = soundfile.read(wav)
    seconds = len(samples) // rate
    energy = [float(np.mean(samples[i * rate:(i + 1) * rate] ** 2)) for i in range(seconds)]
    assert abs(int(np.argmax(energy)) + 0.5 - at) <= 2.0


def test_an_mp3_cut_short_is_as_long_as_its_audio(tmp_path):
    """An MP3 cut at 100 s of 120 (its header still counts every frame: FFmpeg says 2:00):
    the duration said is the audio's, and the last moment's window ends with it."""
    whole = _moments(tmp_path, "whole.mp3", ["-c:a", "libmp3lame", "-b:a", "128k"], 120.0)
    data = whole.read_bytes()
    path = tmp_path / "cut.mp3"
    path.write_bytes(data[: len(data) * 100 // 120])
    assert probe(path).duration == pytest.approx(120.0, abs=0.5)
    out = tmp_path / "out"
    run = run_m0("analyze", str(path), str(out), "-l", "30", "--no-clips", "--no-report",
                 "-s", "1")
    assert run.returncode == 0, run.stderr
    doc = json.loads((out / "highlights.json").read_text())
    assert doc["source"]["duration"] == pytest.approx(100.0, abs=1.0)
    assert re.search(r"highlights in 1:(39|40) of audio", run.stdout), run.stdout
    for h in doc["highlights"]:
        assert h["end"] <= doc["source"]["duration"] + 0.01
        assert h["end"] - h["start"] == pytest.approx(30.0, abs=0.01)


# -- a recording cut short (the recorder or the PC crashed, a download stopped) ---------------

def _cut_short(path: Path, folder: Path, share: float) -> Path:
    """The first ``share`` of ``path``'s bytes (:func:`conftest.cut_copy`)."""
    return cut_copy(path, folder / f"cut-{path.name}", share)


def _audio_seconds(path: Path, track: int = 1) -> float:
    """How many seconds of audio ffmpeg's own decode of ``path``'s audio ``track`` gives."""
    wav = path.with_suffix(f".audio{track}.wav")
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "quiet", "-i", str(path),
                    "-map", f"0:a:{track - 1}", str(wav)])
    return soundfile.info(wav).duration


def _assert_the_moments_before_the_cut(path: Path, tmp_path: Path, source: str = "pyav"
                                       ) -> None:
    """``path``, the mic recording cut short after its second burst, is as long as ffmpeg's
    decode of its audio through ``source``; both moments are found at their times and each
    clip holds its moment, the second's window (which would run past the cut) ending with the
    audio."""
    result = analyze(path, tmp_path / "out", source=source, report=False)
    assert result.media.duration == pytest.approx(_audio_seconds(path), abs=0.05)
    assert BURSTS[1] + 0.5 < result.media.duration < BURSTS[1] + 10
    assert_at_players_times(result, BURSTS)
    assert result.clips[1].highlight.end == pytest.approx(result.media.duration, abs=0.01)


def test_a_fragmented_mp4_cut_short_gives_the_moments_it_holds(fragmented, tmp_path):
    """OBS's 'fragmented MP4', written so that a crash leaves a readable file, cut in the
    middle of a fragment: 'file is truncated or damaged: audio stops at 34.0 s of 36.0 s'.
    The last fragment's tables name samples whose bytes the crash cut off, which counted in
    the duration. The recording is as long as the audio in the file now, and each clip (the
    second's window runs past the end) holds its moment."""
    _assert_the_moments_before_the_cut(_cut_short(fragmented, tmp_path, 0.8), tmp_path)


@pytest.mark.parametrize("name", ["audio.flac", "faststart-audio.m4a"])
def test_an_audio_file_cut_short_gives_the_moments_it_holds(name, container, tmp_path):
    """A FLAC cut short (a download that stopped) was 'file is truncated or damaged: audio
    stops at 35.1 s of 44.0 s', exit 1, where a WAV or an MP3 cut short gave the moments in
    it: its decoder met the half frame at the cut. A file without video is as long as its
    audio now, whichever: the moments in it are found, each clip holds its moment and the
    last one's window ends with the audio. An M4A's audio ended up to 16 s before the cut
    (the reader's last read, 256 kB, ran past the end and was dropped whole): it ends with
    the last whole sample."""
    _assert_the_moments_before_the_cut(_cut_short(container(name), tmp_path, 0.8), tmp_path)


def test_an_flv_cut_short_is_as_long_as_its_audio(container, tmp_path):
    """An FLV cut short (a download that stopped) was said to be as long as its header
    declares (written when the recording was whole: 0:44 for 35 s), its last moment's window
    and chapter running past the file's end. An FLV that stops inside a tag declares no
    length now: it is as long as its audio."""
    _assert_the_moments_before_the_cut(_cut_short(container("old-twitch.flv"), tmp_path, 0.8),
                                       tmp_path)


@pytest.mark.parametrize("name", ["audio.flac", "audio.wav"])
def test_an_audio_file_cut_short_says_so(name, container, tmp_path):
    """An audio file cut short gave its moments up to the cut with no word that the file
    ends before the length it declares: m0 analyze and m0 chapters say it once, on stderr
    (and AnalysisResult.warnings holds it); a whole file says nothing. A WAV's header
    declares the whole recording too, which FFmpeg and libsndfile give up for the data there
    is: it is read from the header."""
    whole = container(name)
    path = _cut_short(whole, tmp_path, 0.8)
    for run in (run_m0("analyze", str(path), str(tmp_path / "out"), "-q", "--no-clips",
                       "--no-report"),
                run_m0("chapters", str(path), str(tmp_path / "chapters.m4a"), "-q")):
        assert run.returncode == 0, run.stderr
        assert re.fullmatch(rf"Warning: {re.escape(str(path))}: looks cut short: its audio "
                            r"ends at 35\.\d s of the 44\.0 s it declares \(analysed up to "
                            r"there\)\n", run.stderr), run.stderr
    # highlights.json says it too (the report shows it: test_report), for whoever reviews later
    doc = json.loads((tmp_path / "out" / "highlights.json").read_text())
    assert doc["warnings"] == [run.stderr.removeprefix("Warning: ").strip()]
    assert analyze(whole, None, clips=False).warnings == ()


def test_m0_probe_says_a_wav_cut_short_looks_so(make_media, tmp_path):
    """m0 probe of a WAV cut short (a copy that stopped at 17 s of 30 s) gave the 0:30 its
    header declares with no word of it, as it warns of the other containers: its data chunk
    runs past the file's end, and m0 probe says it looks cut short; the whole file does
    not."""
    whole = make_media("probe-sine-30s.wav", "-f", "lavfi", "-i", "sine=duration=30", "-ac",
                       "1", "-ar", "44100")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:1_500_000])
    said = run_m0("probe", str(cut))
    assert said.returncode == 0, said.stderr
    assert said.stderr.startswith(f"Warning: {cut}: looks cut short: the file stops in the "
                                  "middle of its data"), said.stderr
    whole_said = run_m0("probe", str(whole))
    assert whole_said.returncode == 0 and whole_said.stderr == "", whole_said.stderr


@pytest.mark.parametrize("name", ["audio.flac", "audio.mp3"])
def test_an_audio_file_cut_short_read_by_soundfile_gives_the_moments_it_holds(
        name, make_media, mic, tmp_path):
    """The soundfile source on an audio file cut short: an MP3 was as long as its header
    declares, its last 9 s the buffer of the block before again (soundfile.blocks yields it
    past the end), and a FLAC was 'could not decode the audio (Error : flac decoder lost
    sync.)'. Each ends where its audio does now, as through the other sources."""
    whole = make_media(f"matrix-soundfile-{name}", "-i", str(mic))
    _assert_the_moments_before_the_cut(_cut_short(whole, tmp_path, 0.8), tmp_path,
                                       "soundfile")


def test_a_segment_past_where_an_m4a_is_cut_short_is_empty(container, tmp_path):
    """An M4A of 10 minutes or more cut short (its tables naming samples past the cut): the
    worker decoding a segment that starts past the cut failed with 'plugin "pyav-source":
    AttributeError: 'NoneType' object has no attribute 'samples'' where the recording is
    as long as its audio. That segment has no audio: no chunk."""
    path = _cut_short(container("faststart-audio.m4a"), tmp_path, 0.5)
    source = PyAVSource()
    assert list(source.chunks(str(path), start=30.0, duration=10.0)) == []
    assert list(source.chunks(str(path), start=30.0)) == []


@pytest.fixture(scope="session")
def fragmented(make_media, mic):
    """The mic recording with video in OBS's 'fragmented MP4'."""
    return make_media("matrix-obs-fragmented.mp4", *VIDEO, "-i", str(mic), *H264, "-c:a",
                      "aac", "-movflags", "frag_keyframe+empty_moov+default_base_moof",
                      "-shortest")


@pytest.fixture(scope="session")
def matroska(make_media, mic):
    """The mic recording with video in Matroska."""
    return make_media("matrix-whole.mkv", *VIDEO, "-i", str(mic), *H264, "-c:a", "aac",
                      "-shortest")


@pytest.fixture(scope="session")
def live_matroska(make_media, mic):
    """The mic recording with video in Matroska as OBS leaves it until it stops recording:
    its segment's size unknown, no duration."""
    return make_media("matrix-live.mkv", *VIDEO, "-i", str(mic), *H264, "-c:a", "aac",
                      "-shortest", "-live", "1")


@pytest.mark.parametrize("name", ["whole.mkv", "faststart.mp4"])
def test_a_video_cut_short_gives_the_moments_it_holds_and_says_so(name, container, matroska,
                                                                   tmp_path):
    """A video file cut short that declares its whole length (an MKV or a faststart MP4 whose
    copy stopped, a disk that filled) was 'file is truncated or damaged: audio stops at
    35.1 s of 44.0 s', exit 1. It stops inside its container's last unit: it is analysed up
    to where its audio ends, each clip inside that, and m0 analyze warns once, exit 0."""
    whole = matroska if name == "whole.mkv" else container(name)
    path = _cut_short(whole, tmp_path, 0.8)
    _assert_the_moments_before_the_cut(path, tmp_path)
    run = run_m0("analyze", str(path), str(tmp_path / "cli"), "-q", "--no-clips",
                 "--no-report")
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(rf"Warning: {re.escape(str(path))}: looks cut short: its audio ends "
                        r"at 35\.\d s of the 44\.0 s it declares \(analysed up to there\)\n",
                        run.stderr), run.stderr


@pytest.mark.parametrize("name", sweep(["live.mkv", "fragmented.mp4", "old-twitch.flv",
                                        "start-1000.ts"], {"live.mkv", "fragmented.mp4"}))
def test_a_recording_cut_short_that_declares_no_more_says_so(name, container, live_matroska,
                                                             fragmented, tmp_path):
    """OBS's MKV or fragmented MP4 after a crash, an FLV or a TS whose download stopped were
    analysed up to where their audio ends with no word that the file was cut short (none
    declares a length past it). Each stops inside its container's last unit: m0 analyze
    warns of it; the whole recording does not."""
    whole = {"live.mkv": live_matroska, "fragmented.mp4": fragmented}.get(name) \
        or container(name)
    path = _cut_short(whole, tmp_path, 0.8)
    run = run_m0("analyze", str(path), str(tmp_path / "out"), "-q", "--no-clips",
                 "--no-report")
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(rf"Warning: {re.escape(str(path))}: looks cut short: its audio ends "
                        r"at 3\d\.\d s, where the file stops in the middle of its data "
                        r"\(analysed up to there\)\n", run.stderr), run.stderr
    assert analyze(whole, None, clips=False).warnings == ()


def test_a_video_whose_audio_stops_where_the_file_goes_on_says_how_to_keep_what_can_be_read(
        matroska, tmp_path):
    """A video file whose audio stops where its bytes go on (damage: a download written
    into a file of the whole size, its last fifth zeros) is not cut short: it is 'file is
    truncated or damaged', and the line gives the ffmpeg copy that keeps what can be read, in
    which m0 finds the moments."""
    import shlex

    data = matroska.read_bytes()
    path = tmp_path / "zeroed.mkv"
    path.write_bytes(data[:len(data) * 8 // 10].ljust(len(data), b"\0"))
    run = run_m0("analyze", str(path), str(tmp_path / "out"), "-q")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    line, command = run.stderr.strip().split("; a copy keeps what can be read: ")
    assert line.startswith(f"Error: {path}: file is truncated or damaged: audio stops at 35.")
    assert "\n" not in command and command.startswith("ffmpeg -i "), command
    subprocess.run([ffmpeg_exe(), "-loglevel", "quiet", *shlex.split(command)[1:]], check=True)
    result = analyze(tmp_path / "zeroed-readable.mkv", tmp_path / "readable", report=False)
    assert_at_players_times(result, BURSTS)


def test_every_track_of_a_fragmented_mp4_cut_short_is_as_long_as_its_audio(
        obs, make_media, tmp_path):
    """OBS's fragmented MP4 with two tracks, cut short, analysed with --audio-track all
    (FFmpeg's demuxer mixes them), or through the ffmpeg source: it was said to be as long as
    the samples the last fragment's tables name (FFmpeg's count), past the audio the crash cut
    off: 'file is truncated or damaged', and through the ffmpeg source a last window running
    past the audio. It is as long as the audio of every track."""
    whole = make_media("matrix-obs-two-tracks-fragmented.mp4", "-i", str(obs("mp4")), "-map",
                       "0", "-c", "copy", "-movflags",
                       "frag_keyframe+empty_moov+default_base_moof")
    path = _cut_short(whole, tmp_path, 0.8)
    ends = [_audio_seconds(path, track) for track in (1, 2)]
    assert ends[0] - ends[1] > 0.1, "the test needs tracks the cut ends apart"
    for source in ("pyav", "ffmpeg"):
        result = analyze(path, tmp_path / source, source=source, audio_track="all",
                         report=False)
        assert result.media.duration == pytest.approx(min(ends), abs=0.05), source
        assert_at_players_times(result, BURSTS, audio_track="all")
        assert result.clips[1].highlight.end == pytest.approx(result.media.duration, abs=0.01)
