"""The real CLI in a subprocess: the main job, help, and bad input (one line, exit != 0)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from conftest import LOUD_AT, run_m0


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_analyze_end_to_end(vod, tmp_path):
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), "-v", "--workers", "2")
    assert run.returncode == 0, run.stderr
    assert "2 highlights" in run.stdout
    clips = sorted(out.glob("*.mp4"))
    assert len(clips) == len(LOUD_AT)
    assert clips[0].name.startswith("01_0h00m1") and clips[0].name.endswith("dB.mp4")
    assert {"highlights.json", "index.json"} <= set(_files(out))


def test_json_output_and_no_clips(vod, tmp_path):
    run = run_m0("analyze", str(vod), str(tmp_path), "--no-clips", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["schema"] == "m0.highlights/1" and len(doc["highlights"]) == len(LOUD_AT)
    assert all(h["clip"] is None for h in doc["highlights"])


def test_crest_with_threshold_like_the_seed(vod, tmp_path):
    run = run_m0("analyze", str(vod), str(tmp_path), "-t", "-25", "--no-clips", "--json",
                 "--selector", "crest")
    doc = json.loads(run.stdout)
    assert doc["selector"]["name"] == "crest" and doc["selector"]["threshold"] == -25
    assert doc["highlights"]


def test_no_streaming_selects_legacy(vod, tmp_path):
    run = run_m0("analyze", str(vod), str(tmp_path), "--no-streaming", "--no-clips", "--json")
    assert json.loads(run.stdout)["analyzer"]["name"] == "rms-legacy"


def test_file_name_starting_with_dash(vod, tmp_path):
    odd = tmp_path / "-my stream: $(x) 'q'.mp4"
    shutil.copy(vod, odd)
    run = run_m0("analyze", "--no-clips", "-q", "--", odd.name, "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "out" / "highlights.json").read_text())["highlights"]


def test_no_highlights_is_not_an_error(make_media, tmp_path):
    quiet = make_media("quiet.wav", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "5")
    run = run_m0("analyze", str(quiet), str(tmp_path / "out"))
    assert run.returncode == 0
    assert "no highlights" in run.stderr
    assert json.loads((tmp_path / "out" / "highlights.json").read_text())["highlights"] == []


def _bad_inputs(tmp_path, vod, video_only):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    (tmp_path / "random.mp4").write_bytes(os.urandom(50_000))
    data = vod.read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "folder").mkdir()
    return {
        "missing": (str(tmp_path / "nope.mp4"), "no such file"),
        "directory": (str(tmp_path / "folder"), "is a directory"),
        "empty": (str(tmp_path / "empty.mp4"), "empty"),
        "text": (str(tmp_path / "text.mp4"), "not a media file"),
        "random": (str(tmp_path / "random.mp4"), "not a media file"),
        "truncated": (str(tmp_path / "truncated.mp4"), "moov atom not found"),
        "no audio": (str(video_only), "no audio"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "random",
                                  "truncated", "no audio"])
def test_bad_input_gives_one_clear_line(case, tmp_path, vod, video_only):
    path, expected = _bad_inputs(tmp_path, vod, video_only)[case]
    out = tmp_path / "out"
    run = run_m0("analyze", path, str(out))
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    assert _files(out) == []


@pytest.mark.parametrize("args, expected, code", [
    (["--analyzer", "nope"], 'unknown analyzer "nope"', 1),
    (["-t", "loud"], "'loud' is not a valid float", 2),
    (["-t", "nan"], "threshold must be a finite number", 1),
    (["--clip-length", "-5"], "clip_length must be between", 1),
    (["--max-clips", "0"], "max_clips must be between", 1),
    (["--cut", "wrong"], "'wrong' is not one of", 2),
    (["-P", "nonsense"], "expected STAGE.NAME=VALUE", 2),
    (["-P", "analyzer.colour=1"], "does not take these options", 1),
])
def test_bad_options_give_one_clear_line(vod, tmp_path, args, expected, code):
    run = run_m0("analyze", str(vod), str(tmp_path / "out"), *args)
    assert run.returncode == code
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], run.stderr
    assert _files(tmp_path / "out") == []


@pytest.mark.parametrize("kind", ["is a file", "inside a file"])
def test_unusable_out_dir(vod, tmp_path, kind):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    out = blocker if kind == "is a file" else blocker / "out"
    run = run_m0("analyze", str(vod), str(out))
    assert run.returncode == 1
    assert run.stderr.startswith("Error: ") and len(run.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "x"


def test_help_version_and_alias():
    for command in ([], ["analyze"], ["plugins"], ["demo"]):
        run = run_m0(*command, "--help")
        assert run.returncode == 0 and "Usage:" in run.stdout
    assert "Example: m0 analyze" in run_m0("analyze", "--help").stdout
    from m0core import __version__

    assert __version__ in run_m0("--version").stdout
    highlighter = shutil.which("highlighter")
    assert highlighter, "the highlighter console script is installed"
    alias = subprocess.run([highlighter, "--help"], capture_output=True, text=True)
    assert alias.returncode == 0 and "analyze" in alias.stdout


def test_demo_makes_a_sample_and_finds_its_moments(tmp_path):
    run = run_m0("demo", str(tmp_path / "demo"), "--duration", "60", "-q")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "demo" / "sample_vod.mp4").is_file()
    doc = json.loads((tmp_path / "demo" / "highlights" / "highlights.json").read_text())
    assert doc["highlights"] and all(h["clip"] for h in doc["highlights"])
    planted = int(run.stdout.split("Planted ")[1].split()[0])
    assert f"({planted} of the moments, 0 false alarms)" in run.stdout
