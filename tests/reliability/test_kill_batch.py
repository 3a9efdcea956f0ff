"""``kill -9`` of ``m0 batch`` (the batch process alone, as ``kill -9 PID`` does) while its
jobs run: within 2 s no process of it is left, and an immediate rerun completes every
job with every clip. A rerun removes the temporary files of m0 processes that have ended and
nothing else."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import psutil
import pytest
from conftest import ended_pid, run_m0
from helpers import SLOW, assert_only_complete_files
from procs import m0_popen, ours, tagged_env, wait_for, wait_gone

from m0core.batch.ledger import LEDGER_FILE


def _inputs(vod: Path, folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        shutil.copy(vod, folder / f"vod{i}.mp4")
    return folder


def _names(tag: str) -> list[str]:
    names = []
    for proc in ours(tag):
        try:
            names.append(" ".join(proc.cmdline()[:3]))
        except psutil.Error:
            pass
    return names


def _running(out: Path) -> int:
    """How many jobs the batch's ledger records as running."""
    try:
        with sqlite3.connect(out / LEDGER_FILE) as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _assert_every_clip_present(results: list[dict]) -> None:
    for result in results:
        folder = Path(result["output_path"])
        doc = json.loads((folder / "highlights.json").read_text())
        clips = [h["clip"] for h in doc["highlights"]]
        assert clips and all(c and (folder / c).stat().st_size > 0 for c in clips), doc
        assert_only_complete_files(folder)


@pytest.mark.slow  # 22 s in all: the slow tier (pytest -m slow), which CI runs too;
# tests/test_batch.py kills a batch half way in the default tier
@pytest.mark.parametrize("moment", ["cutting clips", "inside a slow plugin"])
def test_sigkill_of_the_batch_leaves_nothing_and_a_rerun_completes(moment, vod, tmp_path,
                                                                    fake_dist):
    """Killed while its jobs' ffmpeg write clips, or while the jobs are inside an analyzer
    that takes 3 s per chunk (a job cannot stop before the chunk is done: the job's whole
    process group is killed anyway)."""
    inputs = _inputs(vod, tmp_path / "in", 4)
    out = tmp_path / "out"
    env, tag = tagged_env(fake_dist("m0-slow", SLOW))
    args = ["batch", str(inputs), str(out), "--workers", "2", "--cut", "accurate"]
    if moment == "cutting clips":
        started = lambda: (any(out.rglob(".partial-*"))  # noqa: E731
                           and any("ffmpeg" in name for name in _names(tag)))
    else:
        args += ["--analyzer", "slow"]
        env["M0_SLOW"] = "3"
        started = lambda: _running(out) == 2  # noqa: E731
    proc = m0_popen(*args, "-q", env=env)
    try:
        wait_for(started, 120, moment)
        time.sleep(1.0)  # into the analysis
    finally:
        proc.send_signal(signal.SIGKILL)  # the batch process only, not its group
        proc.communicate()
    left = wait_gone(tag, timeout=2.0)
    assert not left, _names(tag)

    again = run_m0(*args, "--json", env=dict(env, M0_SLOW="0"), timeout=300)
    assert again.returncode == 0, again.stderr
    results = json.loads(again.stdout)["jobs"]
    assert len(results) == 4
    assert all(r["status"] in ("completed", "skipped") for r in results), results
    assert any(r["status"] == "completed" for r in results)
    _assert_every_clip_present(results)
    assert not list(out.rglob(".partial-*"))
    assert not wait_gone(tag, timeout=5)


def test_rerun_removes_only_temporary_files_of_ended_m0_processes(vod, tmp_path):
    """In a job's folder: a clip that a killed m0 process (its pid in the name, no longer
    running) left half-written goes; a temporary name of a process that still runs, and other
    programs' hidden ``.partial-*`` and ``.tmp`` files, stay."""
    inputs = _inputs(vod, tmp_path / "in", 1)
    folder = tmp_path / "out" / "vod0_highlights"
    folder.mkdir(parents=True)
    ended = ended_pid()
    assert not psutil.pid_exists(ended)
    stale = folder / f".partial-{ended}-0a1b2c3d-01_0h00m13s_-9.0dB.mp4"
    stale.write_bytes(b"half a clip")
    stale_dir = folder / f".partial-{ended}-k2j3h4g5-smart"
    stale_dir.mkdir()
    (stale_dir / "head.mp4").write_bytes(b"x")
    kept = [folder / f".partial-{os.getpid()}-0a1b2c3d-01_0h00m13s_-9.0dB.mp4",
            folder / ".partial-notes.txt", folder / ".draft.tmp",
            folder / ".partial-123-not-m0s.mp4"]
    for path in kept:
        path.write_bytes(b"not m0's to remove")

    run = run_m0("batch", str(inputs), str(tmp_path / "out"), "--json")
    assert run.returncode == 0, run.stderr
    [result] = json.loads(run.stdout)["jobs"]
    assert result["status"] == "completed" and result["output_path"] == str(folder)
    assert not stale.exists() and not stale_dir.exists()
    assert all(path.read_bytes() == b"not m0's to remove" for path in kept)
