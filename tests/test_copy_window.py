"""Clips of MP4s: ffmpeg reads a header of the window's samples, not the whole file's index.

Real media made by ffmpeg at test time; each clip is compared, byte for byte, with the clip
the same ffmpeg command cuts from the file itself (what m0 did before).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import sweep

from m0_plugins.ffmpeg_encoder import FFmpegEncoder, fragments, window
from m0_plugins.ffmpeg_encoder.command import clip_command
from m0_plugins.ffmpeg_encoder.keyframes import seek_point
from m0_plugins.ffmpeg_encoder.smart import smart_commands
from m0_plugins.ffmpeg_encoder.window import Unsupported, window_header
from m0core.media.ffmpeg import ffmpeg_exe, input_arg, probe
from m0core.model import Highlight, MediaInfo
from m0core.shortform import ShortForm

SECONDS = 50  # long enough for windows past the header's first seconds (window.PREFIX)
VIDEO = ["-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=15:duration={SECONDS}"]
TONE = ["-f", "lavfi", "-i", f"sine=f=440:duration={SECONDS}"]
LAYOUTS = {
    # H.264 with B-frames (an edit list moves its video by their delay) and AAC
    "window_bframes.mp4": [*VIDEO, *TONE, "-c:v", "libx264", "-preset", "ultrafast",
                           "-bf", "2", "-g", "45", "-c:a", "aac"],
    # sound that starts 35 s late (an empty edit), after the header's first seconds; video
    # without B-frames
    "window_late_sound.mp4": [*VIDEO, "-itsoffset", "35", *TONE, "-c:v", "libx264",
                              "-preset", "ultrafast", "-bf", "0", "-g", "30", "-c:a", "aac"],
    # an OBS recording: two titled audio tracks of different rates
    "window_two_tracks.mp4": [
        *VIDEO, *TONE, "-f", "lavfi", "-i", f"sine=f=660:duration={SECONDS}:sample_rate=48000",
        "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast",
        "-c:a", "aac", "-metadata:s:a:0", "title=Game", "-metadata:s:a:1", "title=Mic"],
    # HEVC, whose sample dependencies (sdtp) FFmpeg's muxer writes
    "window_hevc.mp4": [*VIDEO, *TONE, "-c:v", "libx265", "-preset", "ultrafast",
                        "-x265-params", "log-level=none", "-c:a", "aac"],
    "window_tone.m4a": [*TONE, "-c:a", "aac"],
    # every track 10 s into the movie's timeline (empty edits: a stream remuxed with its
    # timestamps kept), where players and FFmpeg start: the header counted the window from
    # the movie's 0, 10 s early, and a clip lacked the window's end, its last sample lasting
    # to the end of the recording
    "window_late_tracks.mp4": [*VIDEO, *TONE, "-c:v", "libx264", "-preset", "ultrafast",
                               "-g", "30", "-c:a", "aac", "-output_ts_offset", "10"],
    "window_late_tone.m4a": [*TONE, "-c:a", "aac", "-output_ts_offset", "10"],
}
# from the start, within the header's first seconds, past them, up to the end
WINDOWS = [(0.0, 4.0), (12.3, 16.0), (38.2, 42.0), (46.5, 52.0)]


def highlight(start: float, end: float) -> Highlight:
    return Highlight(start, end, (start + end) / 2, -6.0, 3.0, index=1)


def assert_copies_as_from_the_file(media, tmp_path: Path, windows) -> None:
    """Each window's copied clip is byte for byte the one ffmpeg cuts from the file."""
    for start, end in windows:
        out = tmp_path / f"{start}"
        with FFmpegEncoder(media, out, cut="copy") as enc:
            clip = enc.submit(highlight(start, end)).result()
        assert clip.ok, clip.error
        before = tmp_path / f"file-{start}{Path(clip.path).suffix}"
        subprocess.run(clip_command(media, start, end - start, before,
                                    seek=seek_point(media, start)), check=True)
        assert Path(clip.path).read_bytes() == before.read_bytes(), (media.path, start)
        assert sorted(p.name for p in out.iterdir()) == [Path(clip.path).name]


@pytest.mark.parametrize("name", sweep(LAYOUTS, {"window_bframes.mp4", "window_two_tracks.mp4",
                                                   "window_late_tracks.mp4"}))
def test_a_copied_clip_of_an_mp4_is_the_clip_ffmpeg_cuts_from_the_file(
        make_media, name: str, tmp_path: Path) -> None:
    media = probe(make_media(name, *LAYOUTS[name]))
    for start, end in WINDOWS:
        assert window_header(media.path, start, end)  # the header is what ffmpeg reads
    assert_copies_as_from_the_file(media, tmp_path, WINDOWS)


def test_the_time_left_out_is_shared_by_the_samples_that_stand_for_it(
        make_media, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a sample lasts 2^31 ticks at most (6.6 hours at 90 kHz): the hours before a window of
    # a long recording are shared by the samples that hold the bytes left out (16 MB each);
    # here by hundreds of samples of 512 bytes, each lasting a second at most
    monkeypatch.setattr(window, "FAKE_SIZE", 512)
    monkeypatch.setattr(window, "MAX_TICKS", 44100)  # the sound's rate; the video's is 15360
    media = probe(make_media("window_bframes.mp4", *LAYOUTS["window_bframes.mp4"]))
    for start, end in WINDOWS:
        assert window.window_header(media.path, start, end)
    assert_copies_as_from_the_file(media, tmp_path, WINDOWS)


FRAGMENTED = {
    # ffmpeg's fragments at keyframes, their data's offset from the moof
    "window_frag_bframes.mp4": [*LAYOUTS["window_bframes.mp4"], "-movflags",
                                "frag_keyframe+empty_moov+default_base_moof"],
    # each fragment's tfhd gives its data's offset in the file
    "window_frag_offsets.mp4": [*LAYOUTS["window_bframes.mp4"], "-movflags",
                                "frag_keyframe+empty_moov"],
    # the first fragment in the moov's sample tables (ffmpeg's frag_keyframe alone)
    "window_frag_moov.mp4": [*LAYOUTS["window_bframes.mp4"], "-movflags", "frag_keyframe"],
    # fragments of 1.3 s, not at keyframes
    "window_frag_13.mp4": [*LAYOUTS["window_bframes.mp4"], "-frag_duration", "1300000",
                           "-movflags", "empty_moov+default_base_moof"],
    "window_frag_two_tracks.mp4": [*LAYOUTS["window_two_tracks.mp4"], "-g", "30", "-movflags",
                                   "frag_keyframe+empty_moov+default_base_moof"],
}


@pytest.mark.parametrize("name", sweep(FRAGMENTED, {"window_frag_bframes.mp4",
                                                      "window_frag_13.mp4"}))
def test_a_copied_clip_of_a_fragmented_mp4_is_the_clip_ffmpeg_cuts_from_the_file(
        make_media, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    media = probe(make_media(name, *FRAGMENTED[name]))
    with pytest.raises(Unsupported):
        window_header(media.path, 38.0, 42.0)
    assert_copies_as_from_the_file(media, tmp_path / "default", WINDOWS)
    # fewer first seconds; stand-ins of many samples, and the bytes between the fragments
    # under many free boxes
    monkeypatch.setattr(fragments, "PREFIX", 6.0)
    monkeypatch.setattr(fragments, "FAKE_SIZE", 512)
    monkeypatch.setattr(fragments, "MAX_TICKS", 15360)
    monkeypatch.setattr(fragments, "_FREE", 20_000)
    parts = fragments.fragment_parts(media.path, 38.2, 42.0)
    assert sum(isinstance(p, bytes) for p in parts) > 5
    assert_copies_as_from_the_file(media, tmp_path / "small", WINDOWS)


@pytest.mark.parametrize("movflags", ["frag_keyframe+empty_moov+global_sidx"])
def test_a_fragmented_mp4_it_does_not_handle_is_copied_from_the_file(
        make_media, movflags: str, tmp_path: Path) -> None:
    # a segment index (sidx) naming the fragments' places in the file
    path = make_media(f"window_{movflags.replace('+', '_')}.mp4",
                      *LAYOUTS["window_bframes.mp4"], "-movflags", movflags)
    with pytest.raises(Unsupported):
        fragments.fragment_parts(path, 38.0, 42.0)
    assert_copies_as_from_the_file(probe(path), tmp_path, WINDOWS[2:3])


def timing(clip: str | Path) -> list[list[str]]:
    """Stream, decode and presentation times and duration of each packet of ``clip``, in
    file order (a re-encoded clip's bytes may differ from run to run: x264's threads)."""
    text = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(clip), "-map", "0",
                           "-c", "copy", "-f", "framemd5", "-"],
                          capture_output=True, text=True, check=True).stdout
    return [[f.strip() for f in line.split(",")[:4]] for line in text.splitlines()
            if not line.startswith("#")]


@pytest.mark.parametrize("name", sweep(["window_bframes.mp4", "window_two_tracks.mp4",
                                        "window_frag_two_tracks.mp4"],
                                       {"window_bframes.mp4", "window_frag_two_tracks.mp4"}))
def test_a_re_encoded_clip_of_an_mp4_is_timed_as_the_one_cut_from_the_file(
        make_media, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fragments, "PREFIX", 6.0)  # the fragmented one: stand-ins each side
    media = probe(make_media(name, *{**LAYOUTS, **FRAGMENTED}[name]))
    for start, end in WINDOWS[2:]:
        with FFmpegEncoder(media, tmp_path / f"{start}", cut="accurate") as enc:
            clip = enc.submit(highlight(start, end)).result()
        assert clip.ok, clip.error
        before = tmp_path / f"file-{start}.mp4"
        subprocess.run(clip_command(media, start, end - start, before, "accurate",
                                    seek=seek_point(media, start)), check=True)
        assert timing(clip.path) == timing(before), start


@pytest.mark.parametrize("name", ["window_bframes.mp4", "window_frag_bframes.mp4"])
def test_a_smart_cut_of_an_mp4_is_timed_as_the_one_cut_from_the_file(
        make_media, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fragments, "PREFIX", 6.0)  # the fragmented one: stand-ins each side
    media = probe(make_media(name, *{**LAYOUTS, **FRAGMENTED}[name]))
    for start, end in [(12.3, 19.0), (38.2, 46.0)]:  # a keyframe every 3 s: pieces copied
        with FFmpegEncoder(media, tmp_path / f"{start}", cut="smart") as enc:
            clip = enc.submit(highlight(start, end)).result()
        assert clip.ok, clip.error
        work = tmp_path / f"work-{start}"
        work.mkdir()
        before = tmp_path / f"file-{start}.mp4"
        commands = smart_commands(media, start, end - start, before, work)
        assert commands and len(commands) > 2, "cut in pieces"
        for cmd in commands:
            subprocess.run(cmd, check=True)
        assert timing(clip.path) == timing(before), start


#: Run in place of ffmpeg (``M0_FFMPEG``): runs the real one (``M0_REAL_FFMPEG``) and, once it
#: has ended, appends its peak memory and its arguments to ``M0_PEAK_LOG``, so every ffmpeg a
#: clip starts is measured, however short-lived (a watcher polling the children missed the
#: peak of one that ended between two looks). The peak is the rusage of its one child: the
#: high water mark of the ffmpeg program, or of this small process it was started from if
#: that were higher (it is not: some 10 MB to ffmpeg's 30 and more), never m0's, whose
#: memory a child forked from it holds until its exec. The ffmpeg runs on one core: FFmpeg
#: and x264 start a thread per core they may use, and on a machine of many cores the threads'
#: memory alone made two runs of the same clip differ by 4 MB. And it runs with its addresses
#: not randomised (``setarch -R``): where the kernel put its heap and mappings made about one
#: run in fifteen of the same ffmpeg peak 5 MB lower or higher than the others (CI met it on
#: three of the six cuts at once); with them fixed, forty runs peaked within 0.2 MB.
_FIXED_ADDRESSES = """
import ctypes
libc = ctypes.CDLL(None)
if libc.personality(libc.personality(0xFFFFFFFF) | 0x0040000) == -1:  # ADDR_NO_RANDOMIZE
    raise SystemExit("the addresses cannot be fixed here")
"""
_MEASURED = _FIXED_ADDRESSES + """
import json, os, resource, signal, subprocess, sys
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])
proc = subprocess.Popen([os.environ["M0_REAL_FFMPEG"], *sys.argv[1:]])
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda number, frame: proc.send_signal(number))
code = proc.wait()
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(os.environ["M0_PEAK_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps([peak, sys.argv[1:]]) + "\\n")
sys.exit(code if code >= 0 else 128 - code)
"""


@pytest.fixture
def measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every ffmpeg m0 starts in the test runs through :data:`_MEASURED`; the file it logs
    each one's peak memory (KB) and arguments to, a JSON line each. Skipped where a process
    may not fix its addresses (a container's seccomp profile may forbid it): there the peaks
    of the same ffmpeg differ by more than the test's bound."""
    if subprocess.run([sys.executable, "-I", "-c", _FIXED_ADDRESSES]).returncode:
        pytest.skip("this machine does not let a process fix its addresses (setarch -R)")
    script, wrapper = tmp_path / "measured.py", tmp_path / "ffmpeg"
    script.write_text(_MEASURED, encoding="utf-8")
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -I "
                       f"{shlex.quote(str(script))} \"$@\"\n", encoding="utf-8")
    wrapper.chmod(0o755)
    log = tmp_path / "peaks.jsonl"
    monkeypatch.setenv("M0_REAL_FFMPEG", ffmpeg_exe())
    monkeypatch.setenv("M0_FFMPEG", str(wrapper))
    monkeypatch.setenv("M0_PEAK_LOG", str(log))
    ffmpeg_exe.cache_clear()
    yield log
    monkeypatch.undo()
    ffmpeg_exe.cache_clear()


def clip_runs(media: MediaInfo, out: Path, cut: str, log: Path) -> list[tuple[int, list[str]]]:
    """The peak memory (KB) and arguments of each ffmpeg that cuts one clip (40-45 s) of
    ``media`` with ``cut`` ("short": a short-form clip, reframed and loudness-matched)."""
    log.write_text("", encoding="utf-8")
    short = ShortForm(aspect=(9, 16), height=64, loudness=-14.0) if cut == "short" else None
    with FFmpegEncoder(media, out, cut="accurate" if short else cut, short_form=short) as enc:
        clip = enc.submit(Highlight(40.0, 45.0, 42.5, -6.0, 3.0, index=1)).result()
    assert clip.ok, clip.error
    runs = [tuple(json.loads(line)) for line in log.read_text(encoding="utf-8").splitlines()]
    assert runs, "no ffmpeg measured"
    return runs


@pytest.mark.parametrize("cut", sweep(["copy", "accurate", "short", "smart", "copy-fragmented",
                                       "smart-fragmented"], {"copy", "smart-fragmented"}))
def test_the_ffmpeg_of_a_clip_does_not_grow_with_the_recording(
        make_media, measured: Path, cut: str, tmp_path: Path) -> None:
    cut, _, layout = cut.partition("-")
    flags = ["-movflags", "frag_keyframe+empty_moov+default_base_moof"] if layout else []
    # a picture every 10 ms, a keyframe every 2 s, looped apart from the sound: the pictures
    # stay evenly spaced across the loops, as a smart cut needs to copy them (sound looped
    # with them left a gap at each loop, and the smart cut was an accurate one)
    picture = make_media("window_even_picture.mp4", "-f", "lavfi", "-i",
                         "testsrc2=size=16x16:rate=100:duration=2", "-c:v", "libx264",
                         "-g", "200")
    sound = make_media("window_even_sound.m4a", "-f", "lavfi", "-i",
                       "sine=duration=2:sample_rate=8000", "-c:a", "aac", "-b:a", "16k")
    runs = {}
    for loops in (30, 1200):  # 1 min; 40 min of 100 frames a second: 240,000 samples
        path = make_media(f"window_even{loops}{layout}.mp4",
                          *[a for f in (picture, sound)
                            for a in ("-stream_loop", str(loops - 1), "-i", str(f))],
                          "-map", "0:v", "-map", "1:a", "-c", "copy", *flags)
        media = probe(path)  # probing runs an ffmpeg of its own, on the whole file
        runs[loops] = clip_runs(media, tmp_path / f"out{loops}", cut, measured)
        whole = [argv for _, argv in runs[loops] if input_arg(path) in argv]
        assert not whole, f"ffmpeg reads the whole file: {whole}"
        if cut == "smart":  # the middle copied: a smart cut, not the accurate one
            assert any(argv[-1].endswith("middle.ts") for _, argv in runs[loops])
    assert len(runs[30]) == len(runs[1200])
    for (minute, argv), (forty, _) in zip(runs[30], runs[1200], strict=True):
        # FFmpeg's demuxer indexing the whole file took 16 MB more for the long one
        assert forty - minute < 4000, (minute, forty, argv)
