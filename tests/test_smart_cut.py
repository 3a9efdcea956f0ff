"""``--cut smart``: the same frames as ``accurate`` (checked by content), the middle copied."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import sweep

from m0_plugins.ffmpeg_encoder import FFmpegEncoder
from m0_plugins.ffmpeg_encoder.smart import smart_commands
from m0core.media.ffmpeg import ffmpeg_exe, probe
from m0core.model import Highlight


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)]


def offset(frame: np.ndarray, others: list[np.ndarray]) -> int:
    """Index of the frame among the first three of ``others`` that ``frame`` shows."""
    return int(np.argmin([np.abs(frame - o).mean() for o in others[:3]]))


def cut(media, out_dir: Path, windows, mode: str) -> list[Path]:
    with FFmpegEncoder(media, out_dir / mode, workers=2, cut=mode) as enc:
        futures = [enc.submit(Highlight(a, b, (a + b) / 2, -6.0, 3.0, index=i))
                   for i, (a, b) in enumerate(windows, 1)]
        results = [f.result() for f in futures]
    assert all(r.ok for r in results), [r.error for r in results]
    return [Path(r.path) for r in results]


# the vod fixture: 15 fps, a keyframe every 2 s; windows that start and end mid-GOP
WINDOWS = [(3.3, 13.3), (20.05, 31.05), (40.0, 58.9), (7.1, 8.4)]


@pytest.mark.parametrize("name", sweep(["vod", "vod_ts"], {"vod"}))
def test_smart_cut_gives_the_frames_of_accurate(name, request, tmp_path):
    media = probe(request.getfixturevalue(name))
    smart = cut(media, tmp_path, WINDOWS, "smart")
    accurate = cut(media, tmp_path, WINDOWS, "accurate")
    for s, a in zip(smart, accurate, strict=True):
        fs, fa = frames(s), frames(a)
        assert abs(len(fs) - len(fa)) <= 1
        assert offset(fs[0], fa) == 0 and offset(fa[0], fs) == 0  # the same first frame
        assert offset(fs[-1], fa[::-1]) <= 1
        n = min(len(fs), len(fa))
        diffs = [np.abs(x - y).mean() for x, y in zip(fs[:n], fa[:n], strict=True)]
        assert np.mean(diffs) < 2.0
        assert max(diffs) < 4.0, np.argmax(diffs)  # each frame in its place, the head's too
        check = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(s), "-f", "null", "-"],
                               capture_output=True, text=True)
        assert check.returncode == 0 and check.stderr == ""
        clip = probe(s)
        assert clip.video_codec == "h264" and clip.audio_codec == "aac"
    assert not [p for p in (tmp_path / "smart").iterdir() if p.name.startswith(".")]


def test_smart_cut_copies_whole_gops(vod, tmp_path):
    media = probe(vod)
    commands = smart_commands(media, 3.3, 30.0, tmp_path / "x.mp4", tmp_path)
    assert commands is not None and len(commands) == 4  # head, middle, tail, join
    head, middle, tail, join = commands
    assert "libx264" in head and "libx264" in tail and "copy" in middle
    # 3.3 → keyframe 4.0: 10 frames re-encoded; 32.0 → 33.3: 20 frames; the rest copied
    assert head[head.index("-frames:v") + 1] == "10"
    assert middle[middle.index("-frames:v") + 1] == str(14 * 30)
    assert tail[tail.index("-frames:v") + 1] == "20"
    assert (tmp_path / "pieces.txt").read_text().splitlines() == [
        "file 'head.ts'", "file 'middle.ts'", "file 'tail.ts'"]


def test_smart_cut_falls_back_to_accurate(vod, wav, tmp_path):
    media = probe(vod)
    assert smart_commands(media, 7.1, 1.3, tmp_path / "x.mp4", tmp_path) is None  # < 2 keys
    assert smart_commands(probe(wav), 3.0, 5.0, tmp_path / "x.wav", tmp_path) is None
    (clip,) = cut(probe(wav), tmp_path, [(3.0, 8.0)], "smart")
    assert probe(clip).duration == pytest.approx(5.0, abs=0.05)


def test_a_smart_clip_from_the_start_ends_with_its_window_on_every_track(make_media,
                                                                         tmp_path):
    """A window from 0 of an OBS-style file whose second audio track starts 2 s late: that
    track ran 2 s past the window (a 12 s clip of a 10 s window), as the duration given to
    the input counts each track from its own start."""
    path = make_media(
        "smart-late-track.mkv", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15:duration=14",
        "-f", "lavfi", "-i", "anoisesrc=amplitude=0.05:duration=14",
        "-itsoffset", "2", "-f", "lavfi", "-i", "sine=duration=12",
        "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast",
        "-g", "15", "-c:a", "aac")
    [clip] = cut(probe(path), tmp_path, [(0.0, 10.0)], "smart")
    assert probe(clip).duration == pytest.approx(10.0, abs=0.05)
    ends: dict[int, float] = {}
    with av.open(str(clip)) as container:
        for packet in container.demux(*container.streams.audio):
            if packet.pts is not None:
                end = float((packet.pts + packet.duration) * packet.time_base)
                ends[packet.stream.index] = max(ends.get(packet.stream.index, 0.0), end)
    assert len(ends) == 2 and max(ends.values()) <= 10.05, ends


def test_a_smart_clip_of_variable_frame_rate_video_keeps_its_picture_in_sync(make_media,
                                                                            tmp_path):
    """Video at a variable frame rate (a screen recording: two frames each half second, 60 a
    second where something moves): the pieces were joined by their frame counts, as if
    evenly spaced, so the picture ran ahead of the sound by what the head's frames were off
    (a flash 0.67 s before its sound); such a window is cut the accurate way, each frame at
    its time."""
    path = make_media(
        "smart-vfr.mp4", "-f", "lavfi", "-i",
        "testsrc2=size=160x120:rate=60:duration=12,drawbox=w=iw:h=ih:color=white:t=fill"
        ":enable='between(t,7,8)',select='lt(mod(n,30),2)+between(t,6.5,8.5)'",
        "-f", "lavfi", "-i", "anoisesrc=amplitude=0.01:duration=12,"
        "volume='1+60*between(t,7,8)':eval=frame",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "12", "-fps_mode", "vfr",
        "-c:a", "aac", "-shortest")
    [clip] = cut(probe(path), tmp_path, [(1.3, 11.3)], "smart")
    with av.open(str(clip)) as container:
        flash = next(f.time for f in container.decode(video=0)
                     if f.to_ndarray(format="gray").mean() > 200)
    with av.open(str(clip)) as container:
        sound = next(f.time + int(np.argmax(np.abs(f.to_ndarray()[0]) > 0.3)) / f.sample_rate
                     for f in container.decode(audio=0) if np.abs(f.to_ndarray()).max() > 0.3)
    assert flash == pytest.approx(7.0 - 1.3, abs=0.04) and sound == pytest.approx(5.7, abs=0.04)
