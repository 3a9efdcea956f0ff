"""The real CLI on whatever capture software writes: bad files fail with one clear line and
leave nothing behind; odd but valid files, names, options and output folders are handled."""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess

import pytest
from conftest import run_m0, sweep
from helpers import assert_one_error_line, assert_only_complete_files, files, tmpfs

from m0core.media.ffmpeg import ffmpeg_exe, probe

# -- files that are not (whole) recordings --------------------------------------------------


def _without_moov(data: bytes) -> bytes:
    """``data`` (an mp4) with its top-level moov atom cut out."""
    out, pos = b"", 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind != b"moov":
            out += data[pos:pos + size]
        pos += size
    return out


BAD = {  # case: words its error line must hold
    "missing": "no such file", "directory": "is a directory", "empty": "file is empty",
    "random bytes": "not a media file", "text": "not a media file m0 can read (it is text",
    # FFmpeg's guess (whatever it is in another build) is no media file either
    "random bytes FFmpeg guesses are lyrics": "not a media file",
    "subtitles only": "neither audio nor video in it",
    "random bytes as .mp3": "not a media file", "random bytes as .aac": "not a media file",
    "moov missing": "its MP4 index is missing", "video without audio": "no audio stream",
    "zero duration": "zero duration",
    # an MP4 cut short without its index (at the end); one with it in front is analysed up
    # to its cut (test_containers: test_a_video_cut_short_gives_the_moments_it_holds_and_says_so)
    **{f"cut at {p} %": "its MP4 index is missing" for p in (10, 50, 99)},
}


def _bad_input(case, folder, vod, video_only, make_media):
    path = folder / "input.mp4"
    if case == "missing":
        return folder / "nope.mp4"
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "random bytes":
        path.write_bytes(random.Random(0).randbytes(50_000))
    elif case == "random bytes FFmpeg guesses are lyrics":  # a low-score guess of no streams
        path.write_bytes(random.Random(131).randbytes(50_000))
    elif case == "subtitles only":
        srt = folder / "words.srt"
        srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
        path = path.with_suffix(".mkv")
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(srt), str(path)], check=True)
    elif case.startswith("random bytes as"):  # FFmpeg takes them for a stream of no rate
        path = path.with_suffix(case.split()[-1])
        path.write_bytes(random.Random(1).randbytes(100_000))
    elif case == "text":
        path.write_text("this is not a video\n" * 50)
    elif case == "moov missing":
        path.write_bytes(_without_moov(vod.read_bytes()))
    elif case == "video without audio":
        return video_only
    elif case == "zero duration":
        return make_media("zero.wav", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "0")
    else:
        data = vod.read_bytes()
        path.write_bytes(data[: len(data) * int(case.split()[2]) // 100])
    return path


@pytest.mark.parametrize("case", BAD)
def test_bad_input_gives_one_clear_line(case, tmp_path, vod, video_only, make_media):
    path = _bad_input(case, tmp_path, vod, video_only, make_media)
    out = tmp_path / "out"
    run = run_m0("analyze", str(path), str(out))
    line = assert_one_error_line(run, path.name)
    expected = BAD[case] if case != "cut at 99 %" else "not a media file"
    assert expected in line, line
    assert files(out) == []


@pytest.mark.parametrize("case", ["random bytes FFmpeg guesses are lyrics", "subtitles only"])
def test_probe_of_a_file_of_neither_audio_nor_video_says_so(case, tmp_path, vod, video_only,
                                                            make_media):
    path = _bad_input(case, tmp_path, vod, video_only, make_media)
    line = assert_one_error_line(run_m0("probe", str(path)), path.name)
    assert "not a media file" in line and BAD[case] in line, line


def test_probe_lists_a_video_without_audio(video_only):
    listed = run_m0("probe", str(video_only))
    assert listed.returncode == 0 and "no audio tracks" in listed.stdout, listed.stderr


# -- odd recordings that must work -------------------------------------------------------------

BURST = "volume='1+25*between(t,5,7)':eval=frame"  # loud from 5 s to 7 s over a quiet bed
WORKS = {  # case: (file name, ffmpeg arguments, highlights expected)
    "audio only": ("audio.m4a", ["-f", "lavfi", "-i", f"anoisesrc=a=0.02:d=15,{BURST}",
                                 "-c:a", "aac"], 1),
    "1 second": ("one.wav", ["-f", "lavfi", "-i", "sine=f=440:duration=1"], 0),
    "8 channels": ("eight.wav", ["-f", "lavfi", "-i", f"anoisesrc=a=0.02:d=15,{BURST}",
                                 "-af", "pan=7.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0|c6=c0|c7=c0"],
                   1),
    "8 kHz": ("r8k.wav", ["-f", "lavfi", "-i", f"anoisesrc=a=0.02:d=15:r=8000,{BURST}"], 1),
    "192 kHz": ("r192k.wav", ["-f", "lavfi", "-i", f"anoisesrc=a=0.02:d=15:r=192000,{BURST}"],
                1),
    "silent": ("silent.wav", ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "15"], 0),
    "constantly loud": ("loud.wav", ["-f", "lavfi", "-i", "anoisesrc=a=0.9:d=15"], 0),
}


@pytest.mark.parametrize("case", WORKS)
def test_odd_recordings_work(case, make_media, tmp_path):
    name, args, found = WORKS[case]
    media = make_media(name, *args)
    out = tmp_path / "out"
    run = run_m0("analyze", str(media), str(out), "-q")
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    doc = json.loads((out / "highlights.json").read_text())
    assert len(doc["highlights"]) == found
    assert doc["source"]["channels"] == (8 if case == "8 channels" else doc["source"]["channels"])
    for h in doc["highlights"]:
        clip = probe(out / h["clip"])
        assert clip.has_audio and not clip.has_video and clip.duration > 5
    if not found:  # -q: errors and warnings alone, not the note that none was found
        assert "Note:" not in run.stderr
        assert all(line.startswith("Warning: ") for line in run.stderr.splitlines())
    assert_only_complete_files(out)


@pytest.mark.parametrize("name", [
    "my stream 2024.wav", "ストリーム ünïcödé.wav", "-leading dash.wav", "it's \"quoted\".wav",
    "$(touch pwned) `x`.wav", "a:b:c.wav",
])
def test_odd_names_work(name, make_media, tmp_path):
    media = shutil.copy(make_media("burst.wav", *WORKS["8 kHz"][1]), tmp_path / name)
    run = run_m0("analyze", "-q", "--no-report", "--", name, "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads((tmp_path / "out" / "highlights.json").read_text())
    [highlight] = doc["highlights"]
    assert highlight["clip"].startswith("01_0h00m0")
    assert probe(tmp_path / "out" / doc["highlights"][0]["clip"]).duration > 5
    assert doc["source"]["path"] == name and os.path.exists(media)
    assert sorted(os.listdir(tmp_path)) == sorted([name, "out"])  # no "pwned"


# -- options -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, expected, code", sweep([
    (["--analyzer", "nope"], 'unknown analyzer "nope"', 1),
    (["-t", "loud"], "'loud' is not a valid float", 2),
    (["-t", "nan"], "--threshold must be a finite number", 1),
    (["-t", "-inf"], "--threshold must be a finite number", 1),
    (["-t", "1e308"], "--threshold must be between", 1),
    (["--clip-length", "-5"], "--clip-length must be between", 1),
    (["--clip-length", "nan"], "--clip-length must be a finite number", 1),
    (["--clip-length", "1e12"], "--clip-length must be between", 1),
    (["--pre", "-1"], "--pre must be between", 1),
    (["--pre", "10", "--post", "5", "-l", "30"],
     "--pre 10 and --post 5 make 15 s clips, not --clip-length 30: give two of the three", 1),
    (["--min-gap", "nan"], "--min-gap must be a finite number", 1),
    (["-s", "3"], "--sensitivity must be between 0 and 1, not 3.0", 1),
    (["--max-clips", "0"], "--max-clips must be between", 1),
    (["--max-clips", "-3"], "--max-clips must be between", 1),
    (["--max-clips", "1000000000000"], "--max-clips must be between", 1),
    (["--workers", "-2"], "--workers must be between", 1),
    (["--workers", "100000"], "--workers must be between", 1),
    (["--jobs", "99999"], "--jobs must be between", 1),
    (["--jobs", "-1"], "--jobs must be between", 1),
    (["--cut", "wrong"], "'wrong' is not one of", 2),
    (["-P", "nonsense"], "expected STAGE.NAME=VALUE", 2),
    (["-P", "analyzer.colour=1"], 'does not take the option "colour"', 1),
    (["-P", "encoder.timeout=-1"], "timeout must be a number of seconds above 0", 1),
    (["-P", "selector.threshold=5"], "'threshold' is set by m0 itself (use --threshold)", 1),
    (["-P", "selector.timeline=1"], "'timeline' is set by m0 itself", 1),
    (["-P", "encoder.out_dir=/tmp"], "'out_dir' is set by m0 itself", 1),
    (["-P", "encoder.media=1"], "'media' is set by m0 itself", 1),
    (["-P", "encoder.cut=accurate"], "'cut' is set by m0 itself (use --cut)", 1),
    (["-P", "encoder.workers=3"], "'workers' is set by m0 itself (use --workers)", 1),
    (["-P", "source.audio_track=2"], "'audio_track' is set by m0 itself", 1),
], {  # one of each kind: an unknown name, not a number, not finite, out of range, options
    # that disagree, not one of a choice, a -P not understood, unknown, or m0's own
    "--analyzer nope", "-t loud", "-t nan", "--max-clips 0",
    "--pre 10 --post 5 -l 30", "--cut wrong", "-P nonsense", "-P analyzer.colour=1",
    "-P encoder.cut=accurate"}, key=lambda case: " ".join(case[0])))
def test_bad_options_give_one_clear_line(vod, tmp_path, args, expected, code):
    run = run_m0("analyze", str(vod), str(tmp_path / "out"), *args)
    assert run.returncode == code
    assert_one_error_line(run, expected)
    assert files(tmp_path / "out") == []


# -- output folders ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["is a file", "under a file", "read-only"])
def test_unusable_out_dir(vod, tmp_path, kind):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    out = {"is a file": blocker, "under a file": blocker / "out",
           "read-only": tmp_path / "ro" / "out"}[kind]
    if kind == "read-only":  # root ignores permission bits: a read-only mount stops it
        with tmpfs(tmp_path / "ro", read_only=True):
            run = run_m0("analyze", str(vod), str(out))
    else:
        run = run_m0("analyze", str(vod), str(out))
    assert_one_error_line(run, str(out))
    assert blocker.read_text() == "x" and files(tmp_path / "ro") == []


def test_a_broken_link_as_out_dir_says_so(vod, tmp_path):
    out = tmp_path / "out"
    out.symlink_to(tmp_path / "gone")
    run = run_m0("analyze", str(vod), str(out))
    assert_one_error_line(run, f"{out}: is a link to {tmp_path / 'gone'}, which does not exist")
    assert out.is_symlink() and not (tmp_path / "gone").exists()


def test_full_disk_fails_cleanly(vod, tmp_path):
    with tmpfs(tmp_path / "disk", size="600k") as disk:
        run = run_m0("analyze", str(vod), str(disk / "out"), "--workers", "2")
        left = files(disk)
        assert_only_complete_files(disk / "out")
    line = assert_one_error_line(run)
    assert "clips failed" in line or "No space left" in line, line
    assert "No space left on device" in run.stderr
    assert not any(name.endswith((".mp4", ".tmp")) for name in left), left


@pytest.mark.parametrize("disk", ["read-only", "full"])
def test_chapters_into_an_unusable_folder(vod, tmp_path, disk):
    """``m0 chapters`` into a read-only folder or onto a full disk: one line naming the
    folder, nothing left in it."""
    folder = tmp_path / "disk"
    with tmpfs(folder, size="64k", read_only=disk == "read-only"):
        run = run_m0("chapters", str(vod), str(folder / "out.mp4"), "-q")
        left = files(folder)
    line = assert_one_error_line(run, str(folder))
    assert "unexpected" not in line
    assert ("cannot write in the output folder (Read-only file system)" if disk == "read-only"
            else "No space left on device") in line, line
    assert left == []


def test_chapters_into_a_read_only_folder_fails_before_analysing(vod, tmp_path):
    folder = tmp_path / "disk"
    with tmpfs(folder, read_only=True):
        run = run_m0("chapters", str(vod), str(folder / "out.mp4"))
    assert_one_error_line(run, str(folder), "cannot write")
    assert "Analysing" not in run.stderr, run.stderr
