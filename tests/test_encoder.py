"""Encoder ``ffmpeg``: real ffmpeg cutting clips out of media made at test time."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import wait
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import psutil
import pytest
import soundfile
from conftest import LOUD_AT, run_m0
from procs import wait_for

from m0_plugins.ffmpeg_encoder import FFmpegEncoder, clip_extension, clip_name
from m0_plugins.pyav_source.source import PyAVSource
from m0core import plugins
from m0core.errors import OptionError
from m0core.media.ffmpeg import base_command, input_arg, probe
from m0core.model import Highlight, MediaInfo
from m0core.shortform import ShortForm
from m0core.testing import run_ffmpeg

FPS = 15  # frame rate of the ``vod`` fixture
GOP = 2.0  # its keyframe interval in seconds (-g 30)


def highlight(start: float, end: float, index: int = 1, peak_db: float = -6.0) -> Highlight:
    """A highlight whose peak is in the middle of its window."""
    return Highlight(start, end, (start + end) / 2, peak_db, 3.0, index=index)


def partials(folder: Path) -> list[str]:
    """The hidden partial files left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".partial-"))


def children() -> list[psutil.Process]:
    """Every process this test process started and has not reaped."""
    return psutil.Process().children(recursive=True)


def video_frames(path: str | Path) -> int:
    """The number of frames in the first video stream of ``path``."""
    cmd = base_command() + ["-loglevel", "info", "-i", input_arg(path),
                            "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    return int(re.findall(r"frame=\s*(\d+)", text)[-1])


@pytest.fixture
def stalled(make_media, vod: Path, tmp_path: Path) -> Iterator[MediaInfo]:
    """A media whose ffmpeg hangs mid-clip: a FIFO fed 60 % of an MPEG-TS, then kept open.

    ffmpeg opens its output, writes part of the clip and blocks reading, so only a kill ends it.
    """
    data = make_media("encoder_stall.ts", "-i", str(vod), "-c", "copy").read_bytes()
    fifo = tmp_path / "stalled.ts"
    os.mkfifo(fifo)
    release = threading.Event()

    def feed() -> None:
        with open(fifo, "wb") as pipe:
            try:
                pipe.write(data[: len(data) * 6 // 10])
                pipe.flush()
            except OSError:  # the reader was killed
                return
            release.wait()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    yield MediaInfo(str(fifo), 60.0, 44100, 2, has_video=True, audio_codec="aac",
                    video_codec="h264", container="mpegts")
    release.set()
    if writer.is_alive():  # still blocked opening the FIFO: open the other end, drain it
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        deadline = time.monotonic() + 5
        while writer.is_alive() and time.monotonic() < deadline:
            try:
                if os.read(fd, 1 << 16):
                    continue
            except BlockingIOError:  # the writer has not written since
                pass
            writer.join(0.01)
        os.close(fd)
    writer.join(5)


def test_registered_through_entry_point() -> None:
    """Registered by name, imported when a run builds it (m0core.plugins.deferred)."""
    factory = plugins.lookup("encoders", "ffmpeg").factory
    assert isinstance(factory, plugins.Deferred) and factory.load() is FFmpegEncoder


def test_clip_name() -> None:
    h = Highlight(300.0, 330.0, 312.7, -6.34, 4.0, index=1)
    assert clip_name(h, ".mp4") == "01_0h05m12s_-6.3dB.mp4"
    late = Highlight(11200.0, 11240.0, 3 * 3600 + 7 * 60 + 9.99, 0.04, 4.0, index=12)
    assert clip_name(late, ".mkv") == "12_3h07m09s_0.0dB.mkv"
    assert clip_name(late, ".m4a", index=123) == "123_3h07m09s_0.0dB.m4a"


def test_clip_name_of_a_level_that_is_no_number_says_none() -> None:
    """A peak_db of NaN (a plugin's) named the clip '01_0h05m12s_nandB.mp4', and one of -inf
    (digital silence) '01_0h05m12s_-infdB.mp4'."""
    h = Highlight(300.0, 330.0, 312.7, float("nan"), 4.0, index=1)
    assert clip_name(h, ".mp4") == "01_0h05m12s.mp4"
    assert clip_name(replace(h, peak_db=float("inf")), ".mp4") == "01_0h05m12s.mp4"
    assert clip_name(replace(h, peak_db=float("-inf")), ".mp4") == "01_0h05m12s_silent.mp4"


@pytest.mark.parametrize(
    ("name", "has_video", "cut", "ext"),
    [
        ("dir/VOD.MKV", True, "copy", ".mkv"),
        ("vod.flv", True, "copy", ".flv"),
        ("vod.xyz", True, "copy", ".mkv"),
        ("vod.xyz", True, "accurate", ".mp4"),
        ("talk.xyz", False, "copy", ".mka"),
        ("talk", False, "accurate", ".m4a"),
        ("talk.flac", False, "copy", ".flac"),
        ("talk.wav", False, "accurate", ".wav"),
        ("vod.webm", True, "accurate", ".mp4"),
        ("vod.mov", True, "accurate", ".mov"),
    ],
)
def test_clip_extension(name: str, has_video: bool, cut: str, ext: str) -> None:
    media = MediaInfo(name, 60.0, 48000, 2, has_video=has_video)
    assert clip_extension(media, cut) == ext


@pytest.mark.parametrize(("name", "codec"), [("talk.weba", "libopus"), ("talk", "libvorbis")])
def test_a_recording_with_an_unlisted_extension_gets_clips_that_hold_its_codec(
        name: str, codec: str, wav: Path, tmp_path: Path) -> None:
    """Opus (a browser's .weba), Vorbis with no extension: an M4A takes neither as it is, so
    the copied clips are Matroska audio."""
    path = tmp_path / name
    run_ffmpeg("-i", str(wav), "-c:a", codec, "-f", "webm" if codec == "libopus" else "ogg",
               str(path))
    run = run_m0("analyze", str(path), str(tmp_path / "out"), "-l", "8", "--no-report")
    assert run.returncode == 0, run.stderr
    clips = sorted((tmp_path / "out").glob("*.mka"))
    assert len(clips) == len(LOUD_AT)
    for clip in clips:  # a copy starts where the container can seek: a cluster early in WebM
        info = probe(clip)
        assert info.audio_codec == codec.removeprefix("lib") and 7.5 <= info.duration <= 20


def test_a_flac_clip_says_its_own_length(wav: Path, tmp_path: Path) -> None:
    """A copied FLAC's header would give the source's length and start: the clip is
    re-encoded (lossless), 8 s long from 0, at the source's bit depth."""
    path = tmp_path / "talk.flac"
    run_ffmpeg("-i", str(wav), "-c:a", "flac", "-sample_fmt", "s16", str(path))
    run = run_m0("analyze", str(path), str(tmp_path / "out"), "-l", "8", "--no-report")
    assert run.returncode == 0, run.stderr
    clips = sorted((tmp_path / "out").glob("*.flac"))
    assert len(clips) == len(LOUD_AT)
    for clip in clips:
        with av.open(str(clip)) as container:
            stream = container.streams.audio[0]
            assert container.duration / 1e6 == pytest.approx(8.0, abs=0.05)
            assert (container.start_time or 0) == 0 and stream.format.name == "s16"


@pytest.mark.parametrize("cut", ["accurate", "smart"])
def test_a_re_encoded_clip_of_float_pcm_keeps_its_samples(cut: str, tmp_path: Path) -> None:
    """A 32-bit float WAV with peaks over 0 dBFS: a re-encoded clip is float too (it was
    16-bit, clipped at 1.0)."""
    path = tmp_path / "hot.wav"
    run_ffmpeg("-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.5:duration=40:seed=7",
               "-af", "volume='if(between(t,12,14),5,1)':eval=frame:precision=float,"
               "aformat=sample_fmts=flt:channel_layouts=stereo", "-c:a", "pcm_f32le", str(path))
    out = tmp_path / "out"
    run = run_m0("analyze", str(path), str(out), "-l", "8", "--cut", cut, "--no-report")
    assert run.returncode == 0, run.stderr
    [clip] = out.glob("*.wav")
    samples, _ = soundfile.read(clip, dtype="float32")
    assert soundfile.info(clip).subtype == "FLOAT" and np.abs(samples).max() > 1.2


def test_copy_clips(vod: Path, tmp_path: Path) -> None:
    windows = [(5.3, 12.8), (30.0, 42.0)]
    with FFmpegEncoder(probe(vod), tmp_path, cut="copy", workers=2) as enc:
        futures = [enc.submit(highlight(s, e, i)) for i, (s, e) in enumerate(windows, 1)]
    assert all(f.done() for f in futures)
    results = [f.result() for f in futures]
    assert [r.path for r in results] == [
        str(tmp_path / "01_0h00m09s_-6.0dB.mp4"), str(tmp_path / "02_0h00m36s_-6.0dB.mp4")]
    for (start, end), r in zip(windows, results, strict=True):
        assert r.ok and r.error is None and r.seconds > 0
        clip = probe(r.path)
        assert clip.has_video and clip.video_codec == "h264" and clip.audio_codec == "aac"
        # input seeking + stream copy: the clip starts at the keyframe at or before the start
        keyframe = start // GOP * GOP
        assert abs(clip.duration - (end - keyframe)) <= 0.1
    assert partials(tmp_path) == []


def test_accurate_clip_is_frame_exact(vod: Path, tmp_path: Path) -> None:
    with FFmpegEncoder(probe(vod), tmp_path, cut="accurate") as enc:
        result = enc.submit(highlight(5.3, 12.8)).result()
    assert result.ok, result.error
    assert Path(result.path).name == "01_0h00m09s_-6.0dB.mp4"
    clip = probe(result.path)
    assert clip.video_codec == "h264" and clip.audio_codec == "aac"
    assert abs(clip.duration - 7.5) <= 1.5 / FPS
    assert abs(video_frames(result.path) - 7.5 * FPS) <= 1


@pytest.mark.parametrize("cut", ["copy", "accurate", "short"])
def test_a_ts_clip_has_video_from_its_start(vod_ts: Path, cut: str, tmp_path: Path) -> None:
    """An MPEG-TS seek to 5.3 s lands on the keyframe after it (6.0 s): the clip's video must
    still start with the clip (copy: at the keyframe before, 4.0 s; accurate and a short-form
    clip, re-encoded through filters: at 5.3 s)."""
    media = probe(vod_ts)
    short = ShortForm(aspect=(1, 1), fit="crop") if cut == "short" else None
    with FFmpegEncoder(media, tmp_path, cut="copy" if short else cut, short_form=short) as enc:
        result = enc.submit(highlight(5.3, 12.8)).result()
    assert result.ok, result.error
    with av.open(result.path) as clip:
        origin = clip.start_time / 1_000_000
        first = next(clip.decode(video=0)).time - origin
    assert first <= (0.3 if cut == "copy" else 1.5 / FPS), first  # TS audio leads a little
    frames = video_frames(result.path)
    assert abs(frames - (12.8 - (4.0 if cut == "copy" else 5.3)) * FPS) <= 2, frames


def first_loud(path: str | Path) -> float:
    """The player time of the first sample of ``path``'s audio over half of full scale."""
    source = PyAVSource()
    for chunk in source.chunks(str(path)):
        loud = np.flatnonzero(np.abs(chunk.samples) > 0.5)
        if len(loud):
            return chunk.start + loud[0] / chunk.sample_rate
    raise AssertionError(f"{path}: nothing loud")


@pytest.mark.parametrize("cut", ["copy", "accurate", "smart", "short"])
def test_a_clip_from_before_the_video_starts_holds_its_sound(
        make_media, vod: Path, cut: str, tmp_path: Path) -> None:
    """The video starts 3 s after the sound (a stream recorded before its first keyframe):
    a seek to 1 s would land on the video's first keyframe and drop the sound before it."""
    late = make_media("late_video.mp4", "-itsoffset", "3", "-i", str(vod), "-i", str(vod),
                      "-map", "0:v", "-map", "1:a", "-c", "copy")
    short = ShortForm(aspect=(1, 1), fit="crop") if cut == "short" else None
    with FFmpegEncoder(probe(late), tmp_path, cut="copy" if short else cut,
                       short_form=short) as enc:
        result = enc.submit(highlight(1.0, 21.0)).result()
    assert result.ok, result.error
    clip = probe(result.path)
    begins = 0.0 if cut == "copy" else 1.0  # copy: from the start, no keyframe before 1 s
    assert clip.duration == pytest.approx(21.0 - begins, abs=0.1)
    assert first_loud(result.path) == pytest.approx(12.0 - begins, abs=0.1)  # LOUD_AT's
    with av.open(result.path) as container:  # the picture where it is in the recording
        shown = next(container.decode(video=0)).time - container.start_time / 1_000_000
    assert shown == pytest.approx(3.0 - begins, abs=1.5 / FPS)


def test_audio_only_input_gives_audio_only_clip(make_media, tmp_path: Path) -> None:
    m4a = make_media(
        "encoder_tone.m4a", "-f", "lavfi", "-i", "sine=f=440:duration=20", "-c:a", "aac")
    with FFmpegEncoder(probe(m4a), tmp_path) as enc:
        result = enc.submit(highlight(4.0, 9.0)).result()
    assert result.ok, result.error
    assert result.path.endswith(".m4a")
    clip = probe(result.path)
    assert not clip.has_video and clip.audio_codec == "aac"
    assert abs(clip.duration - 5.0) <= 0.1


def test_accurate_audio_only_keeps_container(wav: Path, tmp_path: Path) -> None:
    with FFmpegEncoder(probe(wav), tmp_path, cut="accurate") as enc:
        result = enc.submit(highlight(10.0, 15.5)).result()
    assert result.ok, result.error
    assert result.path.endswith(".wav")
    clip = probe(result.path)
    assert not clip.has_video and clip.audio_codec.startswith("pcm_")
    assert abs(clip.duration - 5.5) <= 0.01


def test_awkward_paths(make_media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative names that ffmpeg would read as an option or a protocol without ``file:``."""
    odd = make_media(
        "-odd:clip a b.mkv", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=6",
        "-f", "lavfi", "-i", "sine=duration=6", "-c:v", "libx264", "-preset", "ultrafast",
        "-c:a", "aac", "-shortest",
    )
    monkeypatch.chdir(odd.parent)
    out = Path("-out:dir")
    with FFmpegEncoder(probe(odd.name), out) as enc:
        result = enc.submit(highlight(1.0, 4.0)).result()
    assert result.ok, result.error
    assert result.path == os.path.join("-out:dir", "01_0h00m02s_-6.0dB.mkv")
    assert probe(result.path).has_video


def test_parallel_workers_cut_every_clip(vod: Path, tmp_path: Path) -> None:
    windows = [(s, s + 6.0) for s in range(0, 54, 9)]
    running = 0
    with FFmpegEncoder(probe(vod), tmp_path, cut="accurate", workers=2) as enc:
        futures = [enc.submit(highlight(s, e, i)) for i, (s, e) in enumerate(windows, 1)]
        while not all(f.done() for f in futures):
            running = max(running, len(children()))
            time.sleep(0.005)
    results = [f.result() for f in futures]
    assert all(r.ok for r in results), [r.error for r in results]
    assert len({r.path for r in results}) == len(windows)
    assert sorted(os.listdir(tmp_path)) == sorted(Path(r.path).name for r in results)
    assert running == 2


def test_failing_clip_fails_alone(vod: Path, tmp_path: Path) -> None:
    source = shutil.copy(vod, tmp_path / "gone.mp4")
    out = tmp_path / "clips"
    with FFmpegEncoder(probe(source), out, workers=2) as enc:
        batch = [enc.submit(h) for h in (
            highlight(2.0, 8.0, 1), highlight(20.0, 20.0, 2), highlight(61.0, 70.0, 3),
            highlight(40.0, 48.0, 4))]
        wait(batch)
        os.remove(source)
        missing = enc.submit(highlight(50.0, 55.0, 5)).result()
    good, empty, past_end, good2 = (f.result() for f in batch)
    assert good.ok and good2.ok
    assert not empty.ok and empty.path is None and empty.error == "empty clip window"
    assert not past_end.ok and "after the end" in past_end.error
    assert not missing.ok and missing.path is None
    assert missing.error.startswith("ffmpeg failed:") and "No such file" in missing.error
    assert "\n" not in missing.error
    assert sorted(os.listdir(out)) == sorted(Path(r.path).name for r in (good, good2))


def test_clip_that_cannot_be_renamed_fails_cleanly(vod: Path, tmp_path: Path) -> None:
    (tmp_path / "01_0h00m05s_-6.0dB.mp4").mkdir()  # a folder squats the final name
    with FFmpegEncoder(probe(vod), tmp_path) as enc:
        result = enc.submit(highlight(2.0, 8.0)).result()
    assert not result.ok and result.path is None
    assert result.error.startswith("cannot write the clip")
    assert (tmp_path / "01_0h00m05s_-6.0dB.mp4").is_dir()
    assert partials(tmp_path) == []


def test_tiny_timeout_kills_ffmpeg(vod: Path, tmp_path: Path) -> None:
    with FFmpegEncoder(probe(vod), tmp_path, cut="accurate", timeout=0.01) as enc:
        result = enc.submit(highlight(0.0, 50.0)).result()
    assert not result.ok and result.path is None
    assert result.error == "timed out after 0.01 s"
    assert result.seconds < 5
    assert os.listdir(tmp_path) == []
    assert children() == []


def test_timeout_removes_partial_clip(stalled: MediaInfo, tmp_path: Path) -> None:
    out = tmp_path / "clips"
    with FFmpegEncoder(stalled, out, timeout=2) as enc:
        future = enc.submit(highlight(0.0, 50.0))
        wait_for(lambda: partials(out), 10, "ffmpeg to start writing")
        assert not future.done()
        result = future.result()
    assert not result.ok and result.error == "timed out after 2 s"
    assert 2 <= result.seconds < 5
    assert os.listdir(out) == []
    assert children() == []


@pytest.mark.parametrize("how", ["close", "exception"])
def test_cancel_stops_everything(how: str, stalled: MediaInfo, tmp_path: Path) -> None:
    enc = FFmpegEncoder(stalled, tmp_path / "clips", workers=1, timeout=60)
    running = enc.submit(highlight(0.0, 50.0, 1))
    queued = [enc.submit(highlight(10.0, 20.0, i)) for i in (2, 3)]
    wait_for(lambda: partials(enc.out_dir), 10, "ffmpeg to start writing")
    began = time.monotonic()
    if how == "close":
        enc.close(cancel=True)
    else:
        with pytest.raises(KeyError), enc:
            raise KeyError("boom")
    assert time.monotonic() - began < 5
    result = running.result(timeout=0)
    assert not result.ok and result.error == "cancelled" and result.path is None
    assert all(f.cancelled() for f in queued)
    assert os.listdir(enc.out_dir) == []
    assert children() == []
    with pytest.raises(RuntimeError):
        enc.submit(highlight(0.0, 5.0))


def test_ctrl_c_while_a_clip_thread_starts_leaves_no_thread(
        stalled: MediaInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C (SIGTERM, as m0 takes it) landing while the pool starts a clip's thread: the
    # thread ran, but the pool had not listed it yet, so the cancel neither stopped nor
    # waited for it and m0 ended warning "thread m0-encoder_0 is still running" (the signal
    # sweep met it). Here the signal is raised at that moment, each time.
    start = threading.Thread.start

    def start_then_signal(thread: threading.Thread) -> None:
        start(thread)
        if thread.name.startswith("m0-encoder"):
            signal.raise_signal(signal.SIGINT)

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(threading.Thread, "start", start_then_signal)
    enc = FFmpegEncoder(stalled, tmp_path / "clips", workers=1, timeout=60)
    try:
        with pytest.raises(KeyboardInterrupt), enc:
            enc.submit(highlight(0.0, 50.0, 1))
        # the cancel returns when no clip thread is left (as m0 then checks, at once)
        left = [t.name for t in threading.enumerate() if t.name.startswith("m0-encoder")]
        assert not left, "a clip thread still runs"
        assert os.listdir(enc.out_dir) == []
        assert children() == []
    finally:
        signal.signal(signal.SIGINT, before)
        enc._pool._work_queue.put(None)  # a thread the pool lost waits for this for ever


@pytest.mark.parametrize(
    "params",
    [{"cut": "fast"}, {"cut": None}, {"workers": 0}, {"workers": 1.5}, {"timeout": 0},
     {"timeout": "soon"}, {"quality": 3}],
)
def test_bad_options(params: dict, vod: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError):
        plugins.create("encoders", "ffmpeg", media=probe(vod), out_dir=tmp_path, **params)


def test_m0_ffmpeg_wins_over_the_path(vod: Path, tmp_path: Path) -> None:
    """``M0_FFMPEG`` is the ffmpeg m0 runs even with another on the PATH; one that does not
    exist is one line, which says that unset, the ffmpeg on the PATH comes first (it said
    "unset it to use the ffmpeg m0 comes with")."""
    from m0core.media.ffmpeg import ffmpeg_exe

    real = ffmpeg_exe()
    for name in ("path", "chosen"):
        folder = tmp_path / name
        folder.mkdir()
        wrapper = folder / "ffmpeg"
        wrapper.write_text(f'#!/bin/sh\necho {name} >> "{tmp_path}/log"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path / 'path'}{os.pathsep}{os.environ['PATH']}",
               M0_FFMPEG=str(tmp_path / "chosen" / "ffmpeg"))
    run = run_m0("analyze", str(vod), str(tmp_path / "out"), "--no-report", env=env)
    assert run.returncode == 0, run.stderr
    assert set((tmp_path / "log").read_text().split()) == {"chosen"}
    env["M0_FFMPEG"] = str(tmp_path / "nowhere" / "ffmpeg")
    run = run_m0("analyze", str(vod), str(tmp_path / "out2"), "--no-report", env=env)
    assert run.returncode == 1 and run.stderr.strip().splitlines()[-1] == (
        f"Error: M0_FFMPEG={tmp_path / 'nowhere' / 'ffmpeg'}: no such program (unset it to "
        "use the ffmpeg on your PATH, else the one m0 comes with)")


def test_only_early_windows_of_an_mp4_are_looked_at_for_a_late_video(monkeypatch):
    """Looking for the keyframe before a window opens the file with PyAV (for a 6 h MP4, 180
    MB and 0.3 s a clip): an MP4 or Matroska window past the first seconds is cut without
    it; an MPEG-TS (whose seeks land late) is looked at wherever the window is."""
    from m0_plugins.ffmpeg_encoder import keyframes
    from m0core.model import MediaInfo

    looked: list[float] = []

    def frames(path, start, end):
        looked.append(start)
        return [(start - 1.5, True), (start - 0.5, False)]

    monkeypatch.setattr(keyframes, "video_frames", frames)
    mp4 = MediaInfo("x.mp4", 21600.0, 48000, 2, has_video=True,
                    container="mov,mp4,m4a,3gp,3g2,mj2")
    assert keyframes.seek_point(mp4, 5.0) is None and looked == [5.0]
    assert keyframes.seek_point(mp4, keyframes.EARLY + 100.0) is None and looked == [5.0]
    ts = MediaInfo("x.ts", 21600.0, 48000, 2, has_video=True, container="mpegts")
    at = keyframes.EARLY + 100.0
    assert keyframes.seek_point(ts, at) == keyframes.Seek(
        pytest.approx(at - 1.5 + keyframes.NUDGE))


def test_a_full_disk_stops_the_clips_after_the_first_with_one_warning(
        vod: Path, tmp_path: Path, monkeypatch, request) -> None:
    """Once ffmpeg finds the output folder's disk full, the clips not yet started fail with
    that reason without starting ffmpeg (before, each of an hour's 60 clips ran one, each
    opening the input, and printed a warning of its own); the CLI warns once per reason."""
    from m0core.cli.progress import ConsoleProgress
    from m0core.media.ffmpeg import ffmpeg_exe

    media = probe(vod)
    log = tmp_path / "runs"
    fake = tmp_path / "ffmpeg"
    fake.write_text(f'#!/bin/sh\necho run >> "{log}"\n'
                    'echo "Error submitting a packet to the muxer: No space left on device" >&2\n'
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("M0_FFMPEG", str(fake))
    ffmpeg_exe.cache_clear()
    request.addfinalizer(ffmpeg_exe.cache_clear)  # the real one again after the test
    warned: list[str] = []
    monkeypatch.setattr("m0core.cli.progress.warn", warned.append)
    progress = ConsoleProgress(enabled=False)
    with FFmpegEncoder(media, tmp_path / "out", workers=1) as encoder:
        futures = [encoder.submit(highlight(i, i + 2.0, index=i + 1)) for i in range(6)]
        results = [f.result() for f in futures]
    for done, result in enumerate(results, 1):
        progress.clip_done(result, done, len(results))
    assert log.read_text().split() == ["run"]
    assert all(not r.ok and "No space left on device" in r.error for r in results)
    assert len(warned) == 1 and warned[0].startswith("clip 1 failed:"), warned
    assert partials(tmp_path / "out") == []


def _first_frame(path: str | Path, at: float = 0.0) -> tuple[float, np.ndarray]:
    """The time and picture of the first frame of ``path`` shown at or after ``at`` s."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if at:
            container.seek(int(at * 1_000_000), backward=True)
        for frame in container.decode(stream):
            if frame.time >= at - 1e-3:
                return frame.time, frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{path}: no frame at {at}")


@pytest.mark.parametrize("start", [7.0, 41.0])  # sought by the encoder and not (EARLY)
def test_a_copied_clip_says_where_in_the_recording_it_starts(vod: Path, tmp_path: Path,
                                                             start: float) -> None:
    """A copy starts with the keyframe before its window (every 2 s in ``vod``): the clip
    says where, so its time t is ``clip.start + t`` in the recording; a re-encoded clip
    starts at its window."""
    with FFmpegEncoder(probe(vod), tmp_path / "copy", cut="copy") as enc:
        clip = enc.submit(highlight(start, start + 4.0)).result()
    assert clip.ok and start - GOP / 2 - 0.1 <= clip.start <= start - GOP / 2
    shown, picture = _first_frame(clip.path)
    assert clip.start + shown == pytest.approx(start - GOP / 2, abs=1e-3)  # the keyframe
    at, same = _first_frame(vod, clip.start + shown)
    assert at == pytest.approx(clip.start + shown, abs=1e-3)
    assert np.array_equal(picture, same)
    with FFmpegEncoder(probe(vod), tmp_path / "accurate", cut="accurate") as enc:
        assert enc.submit(highlight(start, start + 4.0)).result().start == start
