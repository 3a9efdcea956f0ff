"""Short-form clips with real ffmpeg: 9:16 frames, -14 LUFS, fades, the compilation, and bad
values through the real CLI."""

from __future__ import annotations

import io
import json
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from conftest import _AUDIO_EXPR, LOUD_AT, run_m0

import m0core
from m0_plugins.ffmpeg_encoder import FFmpegEncoder
from m0_plugins.ffmpeg_encoder.compilation import audio_graph, offsets, pieces
from m0_plugins.ffmpeg_encoder.shortform import frame_size, gain_to, integrated_loudness
from m0core.dev import synth
from m0core.errors import InputError, OptionError
from m0core.media.ffmpeg import ffmpeg_exe, probe
from m0core.model import Highlight
from m0core.shortform import ShortForm, parse_aspect

CLIP = ["-l", "8"]  # short clips keep the re-encodes fast


def frame(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.width, s.codec_context.height


def first_frame(path: Path, at: float = 1.0) -> np.ndarray:
    """The luma plane of the frame at ``at`` s."""
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if f.time >= at:
                return f.to_ndarray(format="gray")
    raise AssertionError("no frame")


def loudness(path: Path) -> float:
    """Integrated loudness of ``path`` by ffmpeg's own ebur128 scanner; its true peak (dBTP)
    must be at most -1 (the ceiling of loudness-normalised clips)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map",
                           "0:a:0", "-af", "ebur128=framelog=quiet:peak=true", "-f", "null",
                           "-"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    value = integrated_loudness(proc.stderr)
    assert value is not None
    peak = float(re.findall(r"True peak:\s*\n\s*Peak:\s*(-?[\d.]+|-inf)\s*dBFS", proc.stderr)[-1])
    assert peak <= -1.0, f"{path.name}: true peak {peak} dBTP"
    return value


def decode_all(path: Path) -> str:
    """Decode every stream of ``path`` (fails on a broken file); returns ffmpeg's stderr."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "info",
                           "-xerror", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def is_916(size: tuple[int, int]) -> bool:
    w, h = size
    return w % 2 == 0 and h % 2 == 0 and abs(w - h * 9 / 16) <= 1


@pytest.mark.slow
def test_acceptance_vertical_loud_compilation(vod, tmp_path):
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), "--aspect", "9:16", "--loudness", "-14",
                 "--fade", "0.5", "--compilation", *CLIP)
    assert run.returncode == 0, run.stderr
    doc = json.loads((out / "highlights.json").read_text())
    clips = [out / h["clip"] for h in doc["highlights"]]
    assert len(clips) == len(LOUD_AT)
    for clip in clips:
        assert is_916(frame(clip)) and frame(clip)[1] == 240  # the source's height
        assert abs(loudness(clip) + 14) <= 0.6, clip
    assert doc["clips"]["cut"] == "accurate"
    assert doc["clips"]["short_form"] == {"aspect": "9:16", "fit": "blur", "height": None,
                                          "loudness": -14.0, "true_peak": -1.0, "fade": 0.5}
    comp = out / "compilation.mp4"
    text = decode_all(comp)
    assert is_916(frame(comp))
    durations = [probe(c).duration for c in clips]
    expected = sum(durations) - 0.5 * (len(clips) - 1)
    assert abs(probe(comp).duration - expected) <= 2 / 15  # two frames at 15 fps
    with av.open(str(comp)) as c:  # picture and sound end together: no drift
        video, audio = (float(s.duration * s.time_base) for s in (c.streams.video[0],
                                                                   c.streams.audio[0]))
    assert abs(video - audio) <= 2 / 15 and abs(video - expected) <= 2 / 15
    listing = text.split("Stream mapping")[0]
    assert len(re.findall(r"Chapter #0:\d+: start", listing)) == len(clips)
    assert "chapter track not found" not in text
    block = doc["compilation"]
    assert block["file"] == "compilation.mp4" and block["error"] is None
    assert [c["index"] for c in block["chapters"]] == [1, 2]
    assert block["chapters"][1]["start"] == pytest.approx(durations[0] - 0.5, abs=0.01)
    assert "compilation.mp4" in (out / "report.html").read_text()
    assert not list(out.glob(".partial-*"))


@pytest.mark.parametrize("fit", ["blur", "crop", "pad"])
def test_fits(vod, tmp_path, fit):
    """pad leaves black bars above and below, blur fills them with the picture, crop keeps a
    centred cut of the full height."""
    media = probe(vod)
    short = ShortForm.from_values(aspect="1:1", fit=fit, height=120)
    with FFmpegEncoder(media, tmp_path, workers=1, short_form=short) as enc:
        result = enc.submit(Highlight(2.0, 4.0, 3.0, -6.0, 3.0, index=1)).result()
    assert result.ok, result.error
    assert frame(Path(result.path)) == (120, 120)
    luma = first_frame(Path(result.path))
    top = float(luma[:8].mean())  # 320x240 padded into 120x120: 30 px bars above and below
    if fit == "pad":
        assert top < 20
    else:
        assert top > 30
    if fit == "crop":  # testsrc2's full height: its picture reaches the top row
        assert float(luma[0].std()) > 5


def test_audio_fades_to_silence_at_both_ends(wav, tmp_path):
    short = ShortForm.from_values(fade=1.0)
    with FFmpegEncoder(probe(wav), tmp_path, workers=1, short_form=short) as enc:
        clip = Path(enc.submit(Highlight(11.0, 15.0, 13.0, -6.0, 3.0, index=1)).result().path)
    with av.open(str(clip)) as c:
        audio = np.concatenate([f.to_ndarray().mean(axis=0) for f in c.decode(audio=0)])
    rate = 48000
    edge, middle = np.abs(audio[:rate // 50]).max(), np.abs(audio[2 * rate:3 * rate]).max()
    assert edge < middle / 20
    assert np.abs(audio[-rate // 50:]).max() < middle / 20


def test_audio_only_loudness_and_compilation(wav, tmp_path):
    result = m0core.analyze(wav, tmp_path, loudness=-14, fade=0.3, compilation=True,
                            clip_length=6, report=False)
    made = [c for c in result.clips if c.ok]
    assert len(made) == len(LOUD_AT)
    for clip in made:
        assert abs(loudness(Path(clip.path)) + 14) <= 0.6
    assert result.compilation.ok and result.compilation.path.endswith("compilation.m4a")
    decode_all(Path(result.compilation.path))


@pytest.mark.slow
def test_loudness_reaches_the_target_when_the_limiter_works_hard(tmp_path):
    """Shouts and spikes over a quiet bed (the demo's sound): the static gain to the target
    drives their peaks far over the ceiling, and the limiter takes 1.5–3.5 LU off; the gain is
    corrected until the clip measures the target, its true peak under -1 dBTP all the same."""
    path = tmp_path / "demo.wav"
    events = synth.plan_events(90.0, seed=2026, min_spacing=25.0)
    synth.write_audio(path, 90.0, events=events, seed=2026)
    result = m0core.analyze(path, tmp_path / "out", loudness=-14, report=False)
    made = [c for c in result.clips if c.ok]
    assert len(made) == len(events) == 3
    for clip in made:
        assert abs(loudness(Path(clip.path)) + 14) <= 0.6, clip.path


@pytest.mark.slow
def test_a_quiet_mp3_raised_far_keeps_its_true_peak_under_the_ceiling(tmp_path):
    """Dense noise bursts in a -24 LUFS recording need +10 dB and more: the limiter works hard,
    and the MP3 encoding of its output raises the peaks between samples by ~2.5 dB."""
    rate, rng = 48000, np.random.default_rng(5)

    def pink(n: int) -> np.ndarray:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        y = np.fft.irfft(spectrum, n)
        return y / np.std(y)

    x = pink(90 * rate) * 0.02
    for at in (20, 60):
        x[at * rate:(at + 3) * rate] += pink(3 * rate) * 0.15
    wav, mp3 = tmp_path / "soft.wav", tmp_path / "soft.mp3"
    soundfile.write(wav, np.stack([x, np.roll(x, 50)], axis=1).astype(np.float32), rate)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(wav), "-c:a", "libmp3lame",
                    "-q:a", "2", str(mp3)], check=True)
    result = m0core.analyze(mp3, tmp_path / "out", loudness=-14, fade=0.5, report=False)
    made = [c for c in result.clips if c.ok]
    assert len(made) == 2
    for clip in made:
        assert abs(loudness(Path(clip.path)) + 14) <= 1.0, clip.path  # and true peak <= -1


def test_a_phone_video_stored_landscape_shown_portrait_keeps_its_height(vod, make_media,
                                                                        tmp_path):
    """A portrait recording stored as 320x240 turned a quarter (a phone's display matrix) is
    shown 240x320: its 9:16 clips are 320 px high, the upright source's height (they were
    240 px, the stored height, at a lower resolution than the source)."""
    portrait = make_media("portrait.mp4", "-display_rotation", "90", "-i", str(vod), "-c",
                          "copy")
    out = tmp_path / "out"
    run = run_m0("analyze", str(portrait), str(out), "--aspect", "9:16", "--no-report", *CLIP)
    assert run.returncode == 0, run.stderr
    doc = json.loads((out / "highlights.json").read_text())
    for h in doc["highlights"]:
        assert is_916(frame(out / h["clip"])) and frame(out / h["clip"])[1] == 320


def test_audio_only_with_aspect_is_an_error_and_writes_nothing(wav, tmp_path):
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--aspect", "9:16")
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0 and "has no video" in run.stderr
    assert not out.exists()


@pytest.mark.parametrize("args, says", [
    (["--aspect", "9x"], "aspect must be W:H"),
    (["--aspect", "0:16"], "aspect must be W:H"),
    (["--loudness", "5"], "loudness must be between -70 and -5"),
    (["--fade", "-1"], "fade must be between 0 and 60"),
    (["--fade", "16"], "fade (16 s) is longer than half a clip (15 s)"),
    (["--fade", "3", "-l", "5"], "longer than half a clip"),
    (["--height", "301"], "height must be an even number"),
    (["--compilation", "--no-clips"], "drop --no-clips"),
])
def test_bad_values_one_line_nothing_written(vod, tmp_path, args, says):
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), *args)
    assert run.returncode != 0
    assert says in run.stderr and run.stderr.strip().count("\n") == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_rerun_with_other_settings_recuts_from_the_cache(vod, tmp_path):
    first = m0core.analyze(vod, tmp_path / "a", clip_length=6, report=False)
    assert not first.timings["cached"]
    again = m0core.analyze(vod, tmp_path / "b", clip_length=6, report=False, aspect="4:5",
                           fit="pad", height=200)
    assert again.timings["cached"] == 1.0
    assert [h.peak_time for h in again.highlights] == [h.peak_time for h in first.highlights]
    assert all(frame(Path(c.path)) == (160, 200) for c in again.clips)


def test_batch_passes_short_form_settings(vod, tmp_path):
    out = tmp_path / "out"
    run = run_m0("batch", str(vod), str(out), "--aspect", "1:1", "--height", "96", "-q",
                 *CLIP)
    assert run.returncode == 0, run.stderr
    clips = list(out.glob("*/*.mp4"))
    assert len(clips) == len(LOUD_AT) and all(frame(c) == (96, 96) for c in clips)


def test_settings_checks():
    assert parse_aspect("9:16") == (9, 16) and parse_aspect(" 4 : 5 ") == (4, 5)
    for bad in ("9x", "9:", "-9:16", "9/16", "1:100"):
        with pytest.raises(OptionError):
            parse_aspect(bad)
    # '0:16' was refused as not 'two whole numbers', and '10000:1' as not numbers at all
    with pytest.raises(OptionError, match="^aspect must be W:H with two whole numbers from 1, "
                                          "e.g. 9:16, not '0:16'$"):
        parse_aspect("0:16")
    with pytest.raises(OptionError, match="^aspect '10000:1' is too extreme "):
        parse_aspect("10000:1")
    assert parse_aspect("1080:1920") == (1080, 1920)
    with pytest.raises(OptionError):
        ShortForm.from_values(fit="stretch")
    assert not ShortForm().active and ShortForm.from_values(fade=0.2).active
    assert frame_size(ShortForm.from_values(aspect="9:16"), (1920, 1080)) == (608, 1080)
    assert frame_size(ShortForm.from_values(aspect="9:16"), (3840, 2160)) == (1080, 1920)
    assert frame_size(ShortForm.from_values(height=720), (1920, 1080)) == (1280, 720)
    assert gain_to(-14, -20.0) == pytest.approx(6.0) and gain_to(-14, -70.0) == 0.0


def test_compilation_offsets_pieces_and_graph():
    assert offsets([10.0, 8.0, 6.0], 1.0) == [0.0, 9.0, 16.0]
    graph = audio_graph([10.0, 8.0, 6.0], 1.0, first=1)
    assert graph.count("acrossfade=d=1.000") == 2 and graph.startswith("[1:a:0]")
    assert "concat=n=3:v=0:a=1" in audio_graph([10.0, 8.0, 6.0], 0.0)
    # the picture's pieces: each clip after the previous crossfade, on one frame grid
    parts = pieces([10.01, 8.02, 6.03], 1.0, Fraction(30))
    assert [p.start for p in parts] == [0.0, 1.0, 1.0]
    assert [p.fade for p in parts] == [1.0, 1.0, 0.0]
    assert sum(p.frames for p in parts) == round((10.01 + 8.02 + 6.03 - 2.0) * 30)
    assert [p.length for p in parts] == pytest.approx([10.01, 7.02, 5.03])


def test_encoder_refuses_to_reframe_audio(wav, tmp_path):
    with pytest.raises(InputError, match="no video"):
        FFmpegEncoder(probe(wav), tmp_path, short_form=ShortForm.from_values(aspect="9:16"))


def test_compilation_of_copied_clips_without_fade_is_their_concatenation(vod, tmp_path):
    out = tmp_path / "it's here"  # the concat demuxer's list quotes the paths
    result = m0core.analyze(vod, out, compilation=True, clip_length=8, report=False)
    assert result.options.clip_cut == "copy"  # no short-form setting: clips stay copies
    clips = [Path(c.path) for c in result.clips if c.ok]
    comp = result.compilation
    assert comp.ok and len(comp.clips) == len(clips) == len(LOUD_AT)
    text = decode_all(Path(comp.path))
    total = sum(probe(c).duration for c in clips)
    assert abs(probe(comp.path).duration - total) <= 2 / 15
    assert comp.chapters[1][0] == pytest.approx(probe(clips[0]).duration, abs=0.01)
    assert len(re.findall(r"Chapter #0:\d+: start", text.split("Stream mapping")[0])) == 2
    doc = json.loads((out / "highlights.json").read_text())
    assert doc["compilation"]["file"] == "compilation.mp4"
    assert doc["clips"]["short_form"]["aspect"] is None
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_ledger_hash_keeps_old_batches_and_sees_short_form_settings():
    from m0core.batch.ledger import options_hash

    before = {k: v for k, v in m0core.Options().to_dict().items()
              if k not in ("aspect", "fit", "height", "loudness", "fade", "compilation")}
    assert options_hash(m0core.Options().to_dict()) == options_hash(before)
    assert options_hash(m0core.Options(aspect="9:16").to_dict()) != options_hash(before)
    assert options_hash(m0core.Options(fade=0.5).to_dict()) != options_hash(before)


def test_an_interrupted_compilation_stops_its_pieces_at_once(vod, tmp_path, monkeypatch):
    """Ctrl-C while the compilation's pieces were encoding waited for each running piece to
    end (5.4 s for a 6 h file's 9:16 compilation); the pieces' ffmpeg are stopped now."""
    import os
    import signal
    import threading
    import time

    import psutil

    from m0_plugins.ffmpeg_encoder import compilation

    with FFmpegEncoder(probe(vod), tmp_path, workers=2,
                       short_form=ShortForm(fade=0.5)) as encoder:
        clips = [encoder.submit(Highlight(at, at + 3.0, at + 1.0, -6.0, 1.0, index=n))
                 for n, at in ((1, 2.0), (2, 8.0))]
        made = [f.result() for f in clips]
    assert all(c.ok for c in made)
    monkeypatch.setattr(compilation, "piece_command", lambda *a: ["sleep", "60"])
    encoder = FFmpegEncoder(probe(vod), tmp_path, workers=2, short_form=ShortForm(fade=0.5))
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            encoder.compile(made)
    finally:
        timer.cancel()
    assert time.monotonic() - began < 20.0
    sleeping = [p for p in psutil.Process().children(recursive=True)
                if p.name() == "sleep" and p.status() != psutil.STATUS_ZOMBIE]
    assert sleeping == []
    encoder.close()


@pytest.fixture(scope="session")
def obs_muted_mix(make_media) -> Path:
    """An OBS recording whose track 1 (the mix) is silent, its sound on track 2 alone (the
    bursts at :data:`LOUD_AT`), 60 s."""
    return make_media(
        "obs-muted-mix-sound-on-track-2.mp4",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=60",
        "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
        "-filter_complex", _AUDIO_EXPR.format(d=60) + "[mic]",
        "-map", "0:v", "-map", "1:a", "-map", "[mic]", "-c:v", "libx264", "-preset",
        "ultrafast", "-g", "30", "-c:a", "aac", "-ac", "2", "-shortest")



@pytest.mark.parametrize("track", [2, "all"])
def test_short_form_clips_have_the_sound_of_the_track_analysed(obs_muted_mix, tmp_path, track):
    """On an OBS recording whose track 1 is silent and whose sound is on track 2,
    --audio-track 2 --aspect 9:16 --loudness -14 made silent vertical clips: their sound was
    track 1's, and the loudness measured on it (silence: no gain). The clips have the sound
    analysed now (``all``: every track mixed), at the target loudness."""
    result = m0core.analyze(obs_muted_mix, tmp_path / "out", audio_track=track, aspect="9:16",
                            loudness=-14, clip_length=6, report=False)
    made = [c for c in result.clips if c.ok]
    assert len(made) == len(LOUD_AT)
    for clip in made:
        with av.open(clip.path) as c:
            assert len(c.streams.audio) == 1
        assert abs(loudness(Path(clip.path)) + 14) <= 0.6, clip.path


@pytest.mark.parametrize(("track", "ext"), [(2, "mp4"), ("all", "mp4"), (2, "mkv")])
def test_the_compilation_has_the_sound_of_the_track_analysed(obs_muted_mix, make_media,
                                                            tmp_path, track, ext):
    """--audio-track 2 --compilation on an OBS recording whose track 1 is silent: the copied
    clips keep both tracks, and the compilation took each clip's first, silence throughout.
    Its sound is the track analysed now (``all``: the tracks mixed), joined by copy or not."""
    path = obs_muted_mix if ext == "mp4" else make_media(
        "obs-muted-mix-sound-on-track-2.mkv", "-i", str(obs_muted_mix), "-map", "0", "-c", "copy")
    result = m0core.analyze(path, tmp_path / "out", audio_track=track, compilation=True,
                            clip_length=6, report=False)
    assert len([c for c in result.clips if c.ok]) == len(LOUD_AT)
    comp = Path(result.compilation.path)
    with av.open(str(comp)) as c:
        assert len(c.streams.audio) == 1
    rate = probe(comp).sample_rate
    samples, _ = soundfile.read(io.BytesIO(subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(comp), "-map", "0:a:0", "-ac", "1",
         "-f", "wav", "-"], capture_output=True, check=True).stdout))
    loud = np.flatnonzero(np.abs(samples) > 0.3) / rate  # the bursts, 0.6 loud
    assert len(loud) and loud[-1] - loud[0] > 6, loud  # one in each clip
