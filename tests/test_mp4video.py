"""The video track of an MP4/MOV read from its sample tables: what FFmpeg's demuxer says of it,
without opening that demuxer (whose index of every sample grows with the file)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from m0_plugins.ffmpeg_encoder import keyframes, shortform
from m0_plugins.ffmpeg_encoder.smart import smart_window
from m0_plugins.pyav_source import mp4, mp4video
from m0_plugins.writers import timelines
from m0core.media.ffmpeg import probe

#: Windows starting on, just before and just after keyframes (0, 4 and 8 s), running past
#: the end, and one past the end.
WINDOWS = ((0.0, 3.0), (0.5, 2.0), (1.3, 5.0), (3.95, 8.0), (4.0, 8.0), (4.05, 9.0),
           (8.5, 9.5), (12.0, 13.0))


@pytest.mark.parametrize("block", [mp4.BLOCK, 3])
def test_video_frames_of_an_mp4_are_those_of_ffmpegs_demuxer(ramp, ramp_variants, block,
                                                              monkeypatch):
    """From the keyframe before a window on, the same frame times and keyframes as FFmpeg's
    demuxer gives (so the same seek points and smart cuts); also with the tables read a few
    entries at a time (a long file's block boundaries)."""
    monkeypatch.setattr(mp4, "BLOCK", block)
    monkeypatch.setattr(mp4video, "BLOCK", block)
    ours = {(name, window): keyframes.video_frames(path, *window)
            for name, path in {"ramp": ramp, **ramp_variants}.items() for window in WINDOWS}

    assert_frames_are_ffmpegs(ours, {"ramp": ramp, **ramp_variants}, monkeypatch)


def assert_frames_are_ffmpegs(ours: dict, paths: dict, monkeypatch) -> None:
    """``ours`` (``{(name, (start, end)): video_frames(paths[name], start, end)}``) are, from
    the keyframe before each window on, the frame times and keyframes FFmpeg's demuxer gives
    (so the same seek points and smart cuts)."""
    def unsupported(*args):
        raise mp4video.Unsupported("FFmpeg's demuxer, for comparison")

    monkeypatch.setattr(mp4video, "frame_times", unsupported)
    for (name, (start, end)), got in ours.items():
        want = keyframes.video_frames(paths[name], start, end)
        key = keyframes.keyframe_before(want, start)
        assert keyframes.keyframe_before(got, start) == key, (name, start)
        assert smart_window(got, start, end) == smart_window(want, start, end), (name, start)
        got, want = ([(round(t, 6), k) for t, k in frames if t >= (key or 0.0) - 1e-9]
                     for frames in (got, want))
        assert got == want, (name, start)


def test_video_frames_of_an_mp4_do_not_open_ffmpegs_demuxer(ramp, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("av.open called")

    monkeypatch.setattr(av, "open", refused)
    frames = keyframes.video_frames(ramp, 5.0, 6.0)
    assert keyframes.keyframe_before(frames, 5.0) == pytest.approx(4.0)
    assert [t for t, key in frames if key] == pytest.approx([4.0])
    assert [round(t * 10) for t, _ in frames if 4.0 <= t < 7.0] == list(range(40, 70))


def test_video_size_of_an_mp4_is_ffmpegs_demuxers(ramp, ramp_variants, make_media,
                                                   monkeypatch):
    """The display size (a pixel aspect from the pasp box applied to the width) read from the
    boxes, as FFmpeg's demuxer says it; without opening that demuxer."""
    wide = make_media("ramp_wide.mp4", "-i", str(ramp), "-c", "copy", "-aspect", "16:9")
    paths = [ramp, wide, *ramp_variants.values()]
    real_open = av.open

    def refused(*args, **kwargs):
        raise AssertionError("av.open called")

    monkeypatch.setattr(av, "open", refused)
    ours = [shortform.video_size(path) for path in paths]
    monkeypatch.setattr(av, "open", real_open)

    def unsupported(*args):
        raise mp4video.Unsupported("FFmpeg's demuxer, for comparison")

    monkeypatch.setattr(mp4video, "video_size", unsupported)
    assert ours == [shortform.video_size(path) for path in paths]
    assert ours[:2] == [(350, 200), (356, 200)]


@pytest.mark.parametrize("block", [mp4.BLOCK, 3])
def test_frame_rate_of_an_mp4_is_ffmpegs_demuxers(ramp, ramp_variants, make_media, block,
                                                  monkeypatch):
    """The average frame rate the timelines (EDL, OTIO, FCPXML) take their timecode rate
    from, read from the sample tables as FFmpeg's demuxer averages it (NTSC 29.97 too);
    without opening that demuxer, which held every sample's index in m0's process."""
    ntsc = make_media("ntsc_video_only.mp4", "-f", "lavfi", "-i",
                      "testsrc2=size=160x120:rate=30000/1001:duration=4", "-c:v", "libx264",
                      "-preset", "ultrafast", "-bf", "2")
    paths = [ramp, ntsc, *ramp_variants.values()]
    wanted = []
    for path in paths:
        with av.open(str(path)) as container:
            wanted.append(float(container.streams.video[0].average_rate))
    monkeypatch.setattr(mp4, "BLOCK", block)

    def refused(*args, **kwargs):
        raise AssertionError("av.open called")

    monkeypatch.setattr(av, "open", refused)
    got = [timelines.frame_rate(probe(path)) for path in paths]
    assert got == pytest.approx(wanted, rel=1e-9)
    assert [timelines.timecode_rate(r) for r in got[:2]] == [30.0, 29.97]


@pytest.mark.parametrize("block", [mp4.BLOCK, 3])
def test_a_span_of_samples_has_the_times_each_sample_has(ramp, ramp_variants, block,
                                                          monkeypatch):
    """The decode times and composition offsets of a span of samples, read as one array (a
    clip's header reads thousands), are each sample's as read one by one: from the start, in
    the middle, back in an earlier block of rows, to the end, and none for an empty span."""
    monkeypatch.setattr(mp4, "BLOCK", block)
    monkeypatch.setattr(mp4video, "BLOCK", block)
    for path in (ramp, *ramp_variants.values()):
        track = mp4video.open_video(path)
        assert track.ctts is not None  # the B-frames' reordering
        with open(path, "rb") as f:
            for table, span in ((track.stts, "totals"), (track.ctts, "values")):
                one = mp4video.RunLengths(f, table)
                each = [getattr(one, span[:-1])(n) for n in range(track.samples)]
                assert len(set(each)) > 2
                runs = mp4video.RunLengths(f, table)
                for a, b in ((0, track.samples), (track.samples // 2, track.samples),
                             (1, track.samples // 3), (track.samples - 1, track.samples),
                             (5, 5)):
                    got = getattr(runs, span)(a, b)
                    assert got.dtype == np.int64 and got.tolist() == each[a:b], (path, a, b)
