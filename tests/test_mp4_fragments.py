"""The video track of a fragmented MP4 (OBS's fragmented recordings, ffmpeg's
``-movflags frag_keyframe+empty_moov``) read from its movie fragments, a fragment at a time:
what FFmpeg's demuxer says of it and the frames it decodes, without opening that demuxer
(whose index of every sample grows with the recording)."""

from __future__ import annotations

import av
import numpy as np
import pytest
from test_mp4video import assert_frames_are_ffmpegs

from m0_plugins.ffmpeg_encoder import keyframes, shortform
from m0_plugins.pyav_source import mp4, mp4video
from m0_plugins.writers import timelines
from m0_plugins.writers.thumbnails import Demuxed, Upright, open_frames
from m0core.media.ffmpeg import probe

#: Peaks on and between keyframes (0, 4 and 8 s), on and between frames, the first and the
#: last frame, past the end.
PEAKS = (0.0, 0.03, 0.1, 1.55, 3.9, 3.95, 4.0, 4.04, 4.1, 5.6, 6.01, 7.99, 8.0, 8.05, 8.9,
         8.95, 9.5)
#: Windows starting on, just before and just after keyframes, and past the end.
WINDOWS = ((0.0, 3.0), (1.3, 5.0), (3.95, 8.0), (4.0, 8.0), (4.05, 9.0), (8.5, 9.5),
           (12.0, 13.0))


@pytest.fixture(scope="session")
def fragmented(ramp, make_media, tmp_path_factory) -> dict[str, object]:
    """The ramp (B-frames, 4 s GOPs) with a sound track, fragmented as ffmpeg does it: a
    fragment a keyframe, with an empty moov (also with default-base-is-moof, with the video
    alone, with an edit list, as OBS writes its fragmented MP4, and without the mfra at the
    end), fragments of 1.3 s that do not start at keyframes, the first fragment in the
    moov's tables, and a short recording all in the moov's tables (one GOP: no moof)."""
    sound = ["-f", "lavfi", "-i", "sine=duration=9", "-map", "0:v", "-map", "1:a",
             "-c:v", "copy", "-c:a", "aac"]
    keyframe = ["-movflags", "frag_keyframe+empty_moov"]
    made = make_media("ramp_frag.mp4", "-i", str(ramp), *sound, *keyframe)
    # as a recording that was never finished (or written to a pipe) ends: without the
    # random-access index (the mfra) at the end
    data = made.read_bytes()
    unindexed = tmp_path_factory.mktemp("fragments") / "ramp_frag_no_mfra.mp4"
    unindexed.write_bytes(data[:len(data) - int.from_bytes(data[-4:], "big")])
    return {
        "frag_keyframe": made,
        "no mfra": unindexed,
        "default_base_moof": make_media(
            "ramp_frag_moof.mp4", "-i", str(ramp), *sound,
            "-movflags", "frag_keyframe+empty_moov+default_base_moof"),
        "video alone": make_media("ramp_frag_video.mp4", "-i", str(ramp), "-c", "copy",
                                  *keyframe),
        "edit list": make_media("ramp_frag_obs.mp4", "-i", str(ramp), *sound,
                                "-movflags", "frag_keyframe+empty_moov+delay_moov"),
        "frag_duration": make_media("ramp_frag_13.mp4", "-i", str(ramp), *sound,
                                    "-frag_duration", "1300000", "-movflags", "empty_moov"),
        "first in moov": make_media("ramp_frag_moov.mp4", "-i", str(ramp), *sound,
                                    "-movflags", "frag_keyframe"),
        "one fragment": make_media("ramp_frag_one.mp4", "-i", str(ramp), "-t", "3", "-c",
                                   "copy", "-movflags", "frag_keyframe"),
    }


def refuse_ffmpegs_demuxer(monkeypatch) -> None:
    def refused(*args, **kwargs):
        raise AssertionError("av.open called")

    monkeypatch.setattr(av, "open", refused)


@pytest.mark.parametrize("block", [mp4.BLOCK, 3])
def test_frames_of_a_fragmented_mp4_are_those_of_ffmpegs_demuxer(fragmented, block,
                                                                   monkeypatch):
    """The frame at each peak, decoded from the fragments' samples, is pixel for pixel the
    one FFmpeg's demuxer gives (``av.open``, seeking); also with each trun read a few rows at
    a time. The reader is used: it does not open FFmpeg's demuxer."""
    monkeypatch.setattr(mp4, "BLOCK", block)
    for name, path in fragmented.items():
        with monkeypatch.context() as refusing:
            refuse_ffmpegs_demuxer(refusing)
            ours = Upright(mp4video.Frames(path))
            got = [ours.at(peak, float("inf")) for peak in PEAKS]
            # the same times again, out of order: each looked for from where it lies
            again = [ours.at(peak, float("inf")) for peak in (8.0, 1.55, 5.6, 0.0)]
            ours.close()
        theirs = Demuxed.open(str(path))
        try:
            for peak, frame in zip((*PEAKS, 8.0, 1.55, 5.6, 0.0), got + again, strict=True):
                want = theirs.at(peak, float("inf"))
                assert (frame is None) == (want is None), (name, peak)
                if want is not None:
                    assert np.array_equal(frame.to_ndarray(format="rgb24"),
                                          want.to_ndarray(format="rgb24")), (name, peak)
        finally:
            theirs.close()
        # past the last frame, at 8.9 s (9.1 s with the B-frames' delay kept: no edit list)
        shown = {"video alone": 8.9, "edit list": 8.9, "one fragment": 2.9}.get(name, 9.1)
        assert [p for p, frame in zip(PEAKS, got, strict=True) if frame is None] == [
            p for p in PEAKS if p > shown], name


@pytest.mark.parametrize("block", [mp4.BLOCK, 3])
def test_video_frames_of_a_fragmented_mp4_are_those_of_ffmpegs_demuxer(fragmented, block,
                                                                       monkeypatch):
    """From the keyframe before a window on, the same frame times and keyframes (the
    fragments' sample flags) as FFmpeg's demuxer gives, so the same seek points and smart
    cuts; without opening that demuxer."""
    monkeypatch.setattr(mp4, "BLOCK", block)
    with monkeypatch.context() as refusing:
        refuse_ffmpegs_demuxer(refusing)
        ours = {(name, window): keyframes.video_frames(path, *window)
                for name, path in fragmented.items() for window in WINDOWS}

    assert_frames_are_ffmpegs(ours, fragmented, monkeypatch)
    assert [t for t, key in ours["video alone", (4.05, 9.0)] if key] == pytest.approx(
        [0.0, 4.0, 8.0])
    # the keyframes within the fragments, 0.2 s late as there is no edit list
    assert [t for t, key in ours["frag_duration", (4.05, 9.0)] if key] == pytest.approx(
        [0.2, 4.2, 8.2])


def test_size_and_frame_rate_of_a_fragmented_mp4_are_ffmpegs_demuxers(fragmented,
                                                                      monkeypatch):
    """The picture size (``--aspect``) and the average frame rate (the timelines') of a
    fragmented MP4, from its boxes and fragments, as FFmpeg's demuxer says them."""
    paths = list(fragmented.values())
    wanted = []
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            wanted.append(((stream.width, stream.height), float(stream.average_rate)))
    refuse_ffmpegs_demuxer(monkeypatch)
    got = [(shortform.video_size(path), timelines.frame_rate(probe(path))) for path in paths]
    assert [size for size, _ in got] == [size for size, _ in wanted] == [(350, 200)] * 8
    assert [rate for _, rate in got] == pytest.approx([rate for _, rate in wanted], rel=1e-9)


def test_a_fragment_is_found_by_the_random_access_index(fragmented, monkeypatch):
    """A time is looked for from the fragment the mfra's index names before it, not by
    walking every fragment from the file's start (a long recording's thousands)."""
    path = fragmented["frag_keyframe"]
    track = mp4video.open_video(path)
    assert track.tfra is not None and track.tfra.count == 3
    walked = []
    real = mp4video.FragmentSamples.fragments

    def fragments(self, start=0):
        walked.append(start)
        return real(self, start)

    monkeypatch.setattr(mp4video.FragmentSamples, "fragments", fragments)
    with mp4video.Frames(path) as frames:
        walked.clear()  # the first one, for the first frame's time
        assert frames.at(8.9) is not None
    assert 0 not in walked


def test_a_fragmented_mp4_with_samples_and_an_edit_list_in_its_moov_is_ffmpegs(
        ramp, make_media, tmp_path):
    """The first fragment in the moov's tables with an edit list: FFmpeg's demuxer applies
    the edit to those samples its own way (its frame at 0 s is the one at 4 s), so that
    layout is left to it, and the thumbnails are its."""
    path = make_media("ramp_frag_moov_edit.mp4", "-i", str(ramp), "-c", "copy",
                      "-movflags", "frag_keyframe", "-use_editlist", "1")
    with pytest.raises(mp4video.Unsupported, match="edit list"):
        mp4video.open_video(path)
    frames = open_frames(str(path))
    try:
        assert isinstance(frames, Demuxed)
        assert frames.at(5.6, float("inf")) is not None
    finally:
        frames.close()


def test_keyframes_of_a_fragmented_mp4_with_a_segment_index_are_ffmpegs(ramp, make_media,
                                                                        monkeypatch):
    """With a segment index (sidx, ``-movflags +global_sidx``), FFmpeg's demuxer takes no
    sample for a keyframe, and ffmpeg cuts the clips by it: a clip's keyframes come from it;
    the frames at the peaks are the reader's, the same as its."""
    path = make_media("ramp_frag_sidx.mp4", "-i", str(ramp), "-c", "copy",
                      "-movflags", "frag_keyframe+empty_moov+global_sidx")
    with pytest.raises(mp4video.Unsupported, match="sidx"):
        mp4video.frame_times(path, 4.5, 5.0)
    with av.open(str(path)) as container:
        assert not any(packet.is_keyframe for packet in container.demux(video=0))
    assert keyframes.keyframe_before(keyframes.video_frames(path, 4.5, 5.0), 4.5) is None
    theirs = Demuxed.open(str(path))
    with monkeypatch.context() as refusing:
        refuse_ffmpegs_demuxer(refusing)
        ours = Upright(mp4video.Frames(path))
        got = [ours.at(peak, float("inf")) for peak in PEAKS]
        ours.close()
    try:
        for peak, frame in zip(PEAKS, got, strict=True):
            want = theirs.at(peak, float("inf"))
            assert (frame is None) == (want is None), peak
            if want is not None:
                assert np.array_equal(frame.to_ndarray(format="rgb24"),
                                      want.to_ndarray(format="rgb24")), peak
    finally:
        theirs.close()


def test_a_fragmented_mp4_without_fragments_is_read_from_its_tables(fragmented, monkeypatch):
    """A fragmented MP4 whose samples all went into its moov's tables (a recording shorter
    than a fragment: no moof) is read from them a block at a time, as any MP4's, however
    many samples they hold: not taken in hand as one fragment."""
    monkeypatch.setattr(mp4video, "MAX_FRAGMENT", 10)  # the 30 samples are too many
    path = fragmented["one fragment"]
    assert mp4video.open_video(path).fragments is None
    refuse_ffmpegs_demuxer(monkeypatch)
    with mp4video.Frames(path) as frames:
        assert round(frames.at(1.55).pts / 1024) == 18  # 1.6 s, after the 0.2 s of B-frames
    assert mp4video.frame_rate(path) == pytest.approx(10.0)
