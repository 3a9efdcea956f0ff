"""Results come from the file the user named now: one identity for a file (resolved path,
device, inode, size, mtime, ctime), a cache hit never hands back a stored path, and nothing
in a cache entry is trusted (any value, any shape is checked; an invalid entry is ignored and
rewritten). Through the real CLI."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
from pathlib import Path

import pytest
from conftest import run_m0, sweep

from m0core.media.ffmpeg import ffmpeg_exe

# loud at 5-6 s and 14-15 s over a quiet bed, 20 s
_AUDIO = ("anoisesrc=color=pink:amplitude=0.02:duration=20[bed];"
          "anoisesrc=color=white:amplitude=0.6:duration=20:seed=3,"
          "volume='between(t,5,6)+between(t,14,15)':eval=frame[burst];"
          "[bed][burst]amix=inputs=2:normalize=0")


def _video(make_media, size: str) -> Path:
    return make_media(f"cq-{size}.mp4", "-f", "lavfi", "-i",
                      f"testsrc2=size={size}:rate=10:duration=20", "-filter_complex", _AUDIO,
                      "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest")


def frame_size(path: Path) -> str:
    """``WxH`` of the video stream of ``path``, as ffmpeg reads it."""
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True).stderr
    return re.search(r"Video: .*?(\d{2,5}x\d{2,5})", text).group(1)


def analyzed(run: subprocess.CompletedProcess) -> dict:
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("decoy", [True, False], ids=["another cq.mp4 here", "none here"])
def test_clips_come_from_the_file_named_now(make_media, tmp_path, decoy):
    """``cd a; m0 analyze cq.mp4 o1``, then from b: ``m0 analyze /abs/a/cq.mp4 out`` is a
    cache hit whose clips are cut from a's file, never from a ``cq.mp4`` in b."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "cq.mp4").write_bytes(_video(make_media, "320x180").read_bytes())
    if decoy:
        (b / "cq.mp4").write_bytes(_video(make_media, "640x360").read_bytes())
    first = analyzed(run_m0("analyze", "cq.mp4", "o1", "--json", "--no-report", cwd=a))
    assert first["timings"]["cached"] == 0.0
    again = analyzed(run_m0("analyze", str(a / "cq.mp4"), "out", "--json", "--no-report",
                            cwd=b))
    assert again["timings"]["cached"] == 1.0
    assert again["source"]["path"] == str(a / "cq.mp4")
    clips = [h["clip"] for h in again["highlights"]]
    assert clips and all(clips)
    for clip in clips:
        assert frame_size(b / "out" / clip) == "320x180"


def test_an_edit_in_place_with_its_time_put_back_is_not_served_stale(make_media, tmp_path):
    """Same size, same mtime (``touch -r``), other content: the inode's ctime tells."""
    path = tmp_path / "a.wav"
    loud = make_media("edit-a.wav", "-filter_complex", _AUDIO, "-ac", "1")
    quiet = make_media("edit-b.wav", "-f", "lavfi", "-i",
                       "anoisesrc=color=pink:amplitude=0.02:duration=20", "-ac", "1")
    assert loud.stat().st_size == quiet.stat().st_size
    path.write_bytes(loud.read_bytes())
    first = analyzed(run_m0("analyze", str(path), str(tmp_path / "o1"), "--json"))
    assert first["timings"]["cached"] == 0.0 and first["highlights"]
    stamp = path.stat()
    with open(path, "r+b") as fh:  # in place: same inode, same size
        fh.write(quiet.read_bytes())
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # what touch -r does
    assert path.stat().st_mtime_ns == stamp.st_mtime_ns and path.stat().st_size == stamp.st_size
    again = analyzed(run_m0("analyze", str(path), str(tmp_path / "o2"), "--json",
                            "--selector", "crest", "-t", "-20"))
    assert again["timings"]["cached"] == 0.0
    assert again["highlights"] == []


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# Each: (name, how to damage the description `meta` and the score bytes `data`).
DAMAGE = {
    "hop 1e-9 (selection would run for minutes)": lambda m, d: m.update(hop=1e-9),
    "hop 0": lambda m, d: m.update(hop=0),
    "hop NaN": lambda m, d: m.update(hop=float("nan")),
    "hop a string": lambda m, d: m.update(hop="0.1"),
    "hop true": lambda m, d: m.update(hop=True),
    "hop another analyzer's": lambda m, d: m.update(hop=0.2),
    "media path /etc/passwd": lambda m, d: m["media"].update(path="/etc/passwd"),
    "duration a string": lambda m, d: m["media"].update(duration="long"),
    "duration NaN": lambda m, d: m["media"].update(duration=float("nan")),
    "sample rate negative": lambda m, d: m["media"].update(sample_rate=-48000),
    "channels a list": lambda m, d: m["media"].update(channels=[2]),
    "tracks a string": lambda m, d: m["media"].update(tracks="all"),
    "track start NaN": lambda m, d: m["media"]["tracks"][0].update(start=float("nan")),
    "track number 0": lambda m, d: m["media"]["tracks"][0].update(number=0),
    "track with a path": lambda m, d: m["media"]["tracks"][0].update(path="/etc/passwd"),
    "count a float": lambda m, d: m.update(count=float(m["count"])),
    "scores NaN (checksum right)": "nan",
    "scores 100x the duration (checksum right)": "long",
    "description nested 100k deep": "deep",
    "description huge": "huge",
    "scores file 1.5 GB (sparse)": "sparse",
}


def _damage(meta_file: Path, how) -> None:
    data_file = meta_file.with_suffix(".f32")
    meta = json.loads(meta_file.read_text())
    if callable(how):
        how(meta, None)
        meta_file.write_text(json.dumps(meta))
        return
    if how in ("nan", "long"):
        import hashlib

        import numpy as np

        scores = np.frombuffer(data_file.read_bytes(), dtype="<f4").copy()
        scores = np.tile(scores, 100) if how == "long" else scores
        scores[len(scores) // 2] = np.nan
        if how == "long":
            scores[len(scores) // 2] = -40.0
        raw = scores.astype("<f4").tobytes()
        data_file.write_bytes(raw)
        meta.update(count=len(raw) // 4, sha256=hashlib.sha256(raw).hexdigest())
        meta_file.write_text(json.dumps(meta))
    elif how == "deep":
        meta_file.write_text(_deep(100_000))
    elif how == "huge":
        meta["padding"] = "x" * (64 * 1024 * 1024)
        meta_file.write_text(json.dumps(meta))
    elif how == "sparse":
        os.truncate(data_file, 1500 * 1024 * 1024)


@pytest.fixture(scope="module")
def valid_entry(wav, tmp_path_factory) -> tuple[dict, dict[str, bytes]]:
    """The first analysis of ``wav`` (``--json``) and the cache entry it wrote (file name:
    bytes), made once for every damage below."""
    cache = tmp_path_factory.mktemp("trust-cache")
    out = tmp_path_factory.mktemp("trust-out") / "o1"
    first = analyzed(run_m0("analyze", str(wav), str(out), "--json", "--no-report",
                            env={**os.environ, "M0_CACHE_DIR": str(cache)}))
    assert first["timings"]["cached"] == 0.0
    return first, {f.name: f.read_bytes() for f in cache.iterdir() if f.is_file()}


#: One damage of each kind in the default tier (a value, a path, scores whose checksum is
#: right, a description and a scores file that must not be read whole); the others are slow.
DAMAGE_KINDS = {"hop 0", "media path /etc/passwd", "scores NaN (checksum right)",
                "description nested 100k deep", "scores file 1.5 GB (sparse)"}


@pytest.mark.parametrize("damage", sweep(DAMAGE, DAMAGE_KINDS))
def test_an_invalid_cache_entry_is_ignored_and_rewritten(wav, valid_entry, own_cache, tmp_path,
                                                         damage):
    first, files = valid_entry
    for name, data in files.items():
        (own_cache / name).write_bytes(data)
    [meta_file] = own_cache.glob("*.json")
    valid = json.loads(meta_file.read_text())
    _damage(meta_file, DAMAGE[damage])
    again = analyzed(run_m0("analyze", str(wav), str(tmp_path / "o2"), "--json", "--no-report",
                            timeout=60))
    assert again["timings"]["cached"] == 0.0
    assert again["source"]["path"] == str(wav)
    assert [h["peak_time"] for h in again["highlights"]] == \
        [h["peak_time"] for h in first["highlights"]]
    assert all(h["clip"] for h in again["highlights"])
    assert json.loads(meta_file.read_text()) == valid  # the entry was rewritten, valid
    # nothing is read whole before it is checked (a 1.5 GB scores file: by its size)
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 800 * 1024
