"""Clips of MP4s: ffmpeg reads a header of the window's samples, not the whole file's index.

Real media made by ffmpeg at test time; each clip is compared, byte for byte, with the clip
the same ffmpeg command cuts from the file itself (what m0 did before).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from m0_plugins.ffmpeg_encoder import FFmpegEncoder, fragments, window
from m0_plugins.ffmpeg_encoder.command import clip_command
from m0_plugins.ffmpeg_encoder.keyframes import seek_point
from m0_plugins.ffmpeg_encoder.smart import smart_commands
from m0_plugins.ffmpeg_encoder.window import Unsupported, window_header
from m0core.media.ffmpeg import ffmpeg_exe, probe
from m0core.model import Highlight

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


@pytest.mark.parametrize("name", LAYOUTS)
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


@pytest.mark.parametrize("name", FRAGMENTED)
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


@pytest.mark.parametrize("name", ["window_bframes.mp4", "window_two_tracks.mp4",
                                  "window_frag_two_tracks.mp4"])
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


#: Measures, in a process of its own, the peak memory of the ffmpeg processes that cut a
#: clip (the MediaInfo comes probed: probing runs an ffmpeg of its own): each one's own high
#: water mark (VmHWM, of the program after its exec), read every few ms while it runs. The
#: rusage of the children would count this Python process too: a child forked from it (m0
#: starts ffmpeg with a preexec_fn) has its memory until the exec.
_PEAK = """
import pickle, sys, threading
import psutil
from m0_plugins.ffmpeg_encoder import FFmpegEncoder
from m0core.model import Highlight
from m0core.shortform import ShortForm
media = pickle.loads(open(sys.argv[1], "rb").read())
cut = sys.argv[3]
short = ShortForm(aspect=(9, 16), height=64, loudness=-14.0) if cut == "short" else None
peak, done = [0], threading.Event()
def watch():
    me = psutil.Process()
    while not done.wait(0.003):
        for proc in me.children(recursive=True):
            try:
                if "ffmpeg" not in proc.name():
                    continue
                with open(f"/proc/{proc.pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except (OSError, psutil.Error):
                pass
watcher = threading.Thread(target=watch, daemon=True)
watcher.start()
with FFmpegEncoder(media, sys.argv[2], cut="accurate" if short else cut,
                   short_form=short) as enc:
    clip = enc.submit(Highlight(40.0, 45.0, 42.5, -6.0, 3.0, index=1)).result()
done.set()
watcher.join()
assert clip.ok, clip.error
assert peak[0] > 0, "no ffmpeg seen"
print(peak[0])
"""


@pytest.mark.parametrize("cut", ["copy", "accurate", "short", "smart", "copy-fragmented",
                                 "smart-fragmented"])
def test_the_ffmpeg_of_a_clip_does_not_grow_with_the_recording(
        make_media, cut: str, tmp_path: Path) -> None:
    cut, _, layout = cut.partition("-")
    flags = ["-movflags", "frag_keyframe+empty_moov+default_base_moof"] if layout else []
    unit = make_media("window_unit.mp4", "-f", "lavfi", "-i",
                      "testsrc2=size=16x16:rate=100:duration=2", "-f", "lavfi", "-i",
                      "sine=duration=2:sample_rate=8000", "-c:v", "libx264", "-g", "200",
                      "-c:a", "aac", "-b:a", "16k")
    peaks = {}
    for loops in (30, 1200):  # 1 min; 40 min of 100 frames a second: 240,000 samples
        path = make_media(f"window_loop{loops}{layout}.mp4", "-stream_loop", str(loops - 1),
                          "-i", str(unit), "-c", "copy", *flags)
        info = tmp_path / f"media{loops}"
        info.write_bytes(pickle.dumps(probe(path)))
        done = subprocess.run([sys.executable, "-c", _PEAK, str(info),
                               str(tmp_path / f"out{loops}"), cut],
                              capture_output=True, text=True, check=True)
        peaks[loops] = int(done.stdout.split()[-1])  # KB
    # FFmpeg's demuxer indexing the whole file took 15 MB more for the long one
    assert peaks[1200] - peaks[30] < 4000, peaks
