"""The report's thumbnails: the frame at each peak, as ``ffmpeg -ss PEAK -i`` grabs it."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from m0_plugins.pyav_source import mp4, mp4video
from m0_plugins.writers import thumbnails
from m0_plugins.writers.thumbnails import Demuxed, Upright, make_thumbnails
from m0core.media.ffmpeg import ffmpeg_exe, input_arg, probe
from m0core.model import Highlight


def picture(jpeg: Path | bytes) -> np.ndarray:
    """The full-range luma of a JPEG file (or of its bytes) as floats."""
    with av.open(str(jpeg) if isinstance(jpeg, Path) else io.BytesIO(jpeg)) as container:
        return next(container.decode(video=0)).to_ndarray(format="gray").astype(float)


def frame_number(jpeg: Path | bytes) -> int:
    """The ramp's frame number a JPEG shows (its full-range grey back to the ramp's level)."""
    return round(picture(jpeg).mean() * 219 / 255 / 2)


def highlights(*peaks: float) -> list[Highlight]:
    return [Highlight(max(p - 1, 0), p + 1, p, -10.0, 10.0, "burst", i)
            for i, p in enumerate(peaks, 1)]


def test_thumbnail_is_the_frame_at_the_peak(ramp, tmp_path):
    # mid-GOP, on a frame's time, on a keyframe, the last frame, between frames
    peaks = (1.55, 5.6, 4.0, 8.9, 0.0, 6.01)
    made = make_thumbnails(probe(ramp), highlights(*peaks), tmp_path)
    assert sorted(made) == [1, 2, 3, 4, 5, 6]
    expected = [16, 56, 40, 89, 0, 61]  # the first frame shown at or after the peak
    assert [frame_number(made[i]) for i in range(1, 7)] == expected
    for path in made.values():
        assert path.parent == tmp_path / "thumbs"
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (320, 182)  # 350x200 scaled, height even
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == [
        f"0{i}.jpg" for i in range(1, 7)]  # no temporary files left


def test_thumbnail_of_an_mpeg_ts_is_the_frame_at_the_peak(ramp, make_media, tmp_path):
    """FFmpeg's MPEG-TS demuxer can seek past its target to the next keyframe: the frame
    at the peak all the same."""
    ts = make_media("ramp.ts", "-i", str(ramp), "-c", "copy", "-f", "mpegts")
    peaks = (1.55, 5.6, 6.01, 3.9)
    made = make_thumbnails(probe(ts), highlights(*peaks), tmp_path)
    assert [frame_number(made[i]) for i in range(1, 5)] == [16, 56, 61, 39]


def test_same_frame_as_ffmpeg_input_seeking(ramp, tmp_path):
    peaks = (1.55, 5.6, 7.99)
    made = make_thumbnails(probe(ramp), highlights(*peaks), tmp_path)
    for i, peak in enumerate(peaks, 1):
        grabbed = subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-ss", f"{peak:.3f}", "-i", input_arg(ramp),
             "-frames:v", "1", "-vf", "scale=320:-2", "-q:v", "4", "-f", "image2pipe", "-"],
            capture_output=True, check=True).stdout
        assert frame_number(made[i]) == frame_number(grabbed)


def test_peak_past_the_end_has_no_thumbnail(ramp, tmp_path):
    made = make_thumbnails(probe(ramp), highlights(2.0, 8.95, 30.0), tmp_path)
    assert list(made) == [1]  # 8.95 s is after the last frame's start (8.9 s)
    assert [p.name for p in (tmp_path / "thumbs").iterdir()] == ["01.jpg"]


def test_interrupt_leaves_no_thumbnail(ramp, tmp_path, monkeypatch):
    real, calls = thumbnails.jpeg, []

    def interrupted(frame):
        calls.append(frame)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(frame)

    monkeypatch.setattr(thumbnails, "jpeg", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_thumbnails(probe(ramp), highlights(1.0, 2.0, 3.0), tmp_path)
    assert list((tmp_path / "thumbs").iterdir()) == []


def test_rotated_video_is_upright(make_media, tmp_path):
    if not hasattr(av.VideoFrame, "rotation"):
        pytest.skip("this PyAV does not read the display matrix")
    flat = make_media("halves.mp4", "-f", "lavfi", "-i",
                      "color=black:size=320x240:rate=10:duration=2,"
                      "geq=lum='if(lt(X,W/2),235,16)':cb=128:cr=128", "-c:v", "libx264",
                      "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    try:  # the display matrix says: turn a quarter counter-clockwise
        rotated = make_media("halves_rotated.mp4", "-display_rotation", "90", "-i", str(flat),
                             "-c", "copy")
    except RuntimeError as exc:
        pytest.skip(f"this ffmpeg cannot set a display rotation: {exc}")
    grey = picture(make_thumbnails(probe(rotated), highlights(1.0), tmp_path)[1])
    assert grey.shape == (426, 320)  # portrait, as ffmpeg's autorotate shows it
    top, bottom = grey[:200].mean(), grey[-200:].mean()
    assert bottom > 200 and top < 30  # the left half turned to the bottom


def test_media_without_video_or_highlights_gets_none(wav, vod, tmp_path):
    assert make_thumbnails(probe(wav), highlights(13.0), tmp_path) == {}
    assert make_thumbnails(probe(vod), [], tmp_path) == {}
    assert not (tmp_path / "thumbs").exists()


def test_thumbnail_matches_ffmpeg_quality(vod, tmp_path):
    """Same scaling and quantiser as ``ffmpeg -vf scale=320:-2 -q:v 4``: the same luma."""
    (path,) = make_thumbnails(probe(vod), highlights(13.0), tmp_path).values()
    grabbed = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-ss", "13.000", "-i", input_arg(vod), "-frames:v", "1",
         "-vf", "scale=320:-2", "-q:v", "4", "-f", "image2pipe", "-"],
        capture_output=True, check=True).stdout
    assert abs(path.stat().st_size - len(grabbed)) < 0.1 * len(grabbed)
    assert np.abs(picture(path) - picture(grabbed)).mean() < 1.0


def test_thumbnails_of_a_run_of_100_or_more_have_three_digits(ramp, tmp_path):
    many = [replace(h, index=i) for h, i in zip(highlights(1.0, 2.0), (7, 100), strict=True)]
    made = make_thumbnails(probe(ramp), many, tmp_path)
    assert {i: p.name for i, p in made.items()} == {7: "007.jpg", 100: "100.jpg"}


# -- MP4 and MOV read from their sample tables, in constant memory ---------------------------

#: Peaks on and between keyframes (0, 4 and 8 s), on and between frames, the first and the
#: last frame, past the end.
ALL_PEAKS = (0.0, 0.03, 0.1, 1.55, 3.9, 3.95, 4.0, 4.04, 4.1, 5.6, 6.01, 7.99, 8.0, 8.05,
             8.9, 8.95, 9.5)


@pytest.mark.parametrize("block", [mp4.BLOCK, 3])
def test_mp4_frames_are_those_of_ffmpegs_demuxer(ramp, ramp_variants, block, monkeypatch):
    """The frame m0's reader of the sample tables decodes at each peak is, pixel for pixel,
    the one FFmpeg's demuxer (``av.open``, seeking) gives; also with the tables read a few
    entries at a time (a long file's block boundaries)."""
    monkeypatch.setattr(mp4, "BLOCK", block)
    monkeypatch.setattr(mp4video, "BLOCK", block)
    for name, path in {"ramp": ramp, **ramp_variants}.items():
        ours, theirs = Upright(mp4video.Frames(path)), Demuxed.open(str(path))
        try:
            for peak in ALL_PEAKS:
                got, want = ours.at(peak, float("inf")), theirs.at(peak, float("inf"))
                assert (got is None) == (want is None), (name, peak)
                if want is not None:
                    assert np.array_equal(got.to_ndarray(format="rgb24"),
                                          want.to_ndarray(format="rgb24")), (name, peak)
        finally:
            ours.close()
            theirs.close()


def test_mp4_frames_out_of_order(ramp):
    """Times asked for out of order (the reader decodes on for increasing ones) give the
    same frames."""
    with mp4video.Frames(ramp) as frames:
        shown = [frames.at(peak) for peak in (5.6, 1.55, 5.0, 5.65, 0.0, 8.9, 4.0)]
        assert [round(f.pts / 1024) - 2 for f in shown] == [56, 16, 50, 57, 0, 89, 40]


def test_mp4_thumbnails_do_not_open_ffmpegs_demuxer(ramp, ramp_variants, tmp_path,
                                                    monkeypatch):
    """An MP4's thumbnails are made without ``av.open`` (whose index of every sample grows
    with the file): the frames at the peaks all the same, as ``ffmpeg -ss PEAK`` grabs
    them."""
    def refused(*args, **kwargs):
        raise AssertionError("av.open called")

    monkeypatch.setattr(av, "open", refused)
    peaks = (0.0, 1.55, 4.0, 5.6, 6.01, 8.9, 8.95)
    made = make_thumbnails(probe(ramp), highlights(*peaks), tmp_path)
    monkeypatch.undo()
    assert [frame_number(made[i]) for i in range(1, 7)] == [0, 16, 40, 56, 61, 89]
    assert 7 not in made  # past the last frame


def test_unsupported_mp4_falls_back_to_ffmpegs_demuxer(ramp, tmp_path, monkeypatch):
    """Where the reader gives up (here: any MP4), or finds a table damaged on the way, the
    thumbnails come from FFmpeg's demuxer."""
    def unsupported(path):
        raise mp4video.Unsupported("not this one")

    monkeypatch.setattr(thumbnails, "Frames", unsupported)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    made = make_thumbnails(probe(ramp), highlights(1.55, 5.6), tmp_path / "a")
    assert [frame_number(made[i]) for i in (1, 2)] == [16, 56]
    monkeypatch.undo()

    def damaged(self, at, deadline=float("inf")):
        raise mp4video.Unsupported("a damaged video track")

    monkeypatch.setattr(mp4video.Frames, "at", damaged)
    made = make_thumbnails(probe(ramp), highlights(1.55, 5.6), tmp_path / "b")
    assert [frame_number(made[i]) for i in (1, 2)] == [16, 56]
