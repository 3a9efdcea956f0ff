"""A rerun into a folder that holds a finished run: interrupted at any point, failing to write,
losing a clip's ffmpeg or the disk, it leaves the previous outputs as they were (or, when it
completes, replaces them whole); every file that lists a clip has it (m0core.staging)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
from conftest import dists_in, run_m0, sweep
from helpers import assert_one_error_line, files, tmpfs
from procs import m0_popen, tagged_env, wait_for, wait_gone
from test_faults import SLOW, _ffmpeg_wrapper, _finish, _named, _run_of

from m0core.media.ffmpeg import probe
from m0core.staging import PREFIX


def snapshot(out: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``out`` (hidden ones included)."""
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in files(out)}


def listed_clips(out: Path) -> dict[str, list[str]]:
    """The clips each listing file in ``out`` names: highlights.json, the report's data and
    the csv table, when there."""
    found = {"highlights.json": [h["clip"] for h in
                                 json.loads((out / "highlights.json").read_text())["highlights"]
                                 if h["clip"]]}
    report = out / "report.html"
    if report.exists():
        data = re.search(r'<script id="m0-data" type="application/json">(.*?)</script>',
                         report.read_text(), re.S).group(1)
        found["report.html"] = [h["clip"] for h in json.loads(data)["highlights"] if h["clip"]]
    table = out / "highlights.csv"
    if table.exists():
        rows = csv.DictReader(io.StringIO(table.read_text()))
        found["highlights.csv"] = [row["clip"] for row in rows if row["clip"]]
    return found


def assert_consistent(out: Path) -> None:
    """Every file that lists a clip has it (a complete, probing clip); no temporary is left."""
    for listing, clips in listed_clips(out).items():
        for clip in clips:
            assert (out / clip).is_file(), f"{listing} lists {clip}, which is missing"
            assert probe(out / clip).duration, clip
    left = [n for n in files(out) if n.startswith(".") or "/." in n or n.endswith(".tmp")]
    assert left == [], left


@pytest.fixture
def slow_env(fake_dist) -> dict[str, str]:
    """The ``slow`` analyzer installed, tagged; ``M0_SLOW`` is set per run."""
    env, _ = tagged_env(fake_dist("m0-slow", SLOW))
    return env


@pytest.fixture(scope="module")
def finished_once(vod, tmp_path_factory) -> tuple[Path, Path]:
    """A folder holding a finished run of ``vod`` (report and csv too), made once, and the
    analysis cache that run filled."""
    folder = tmp_path_factory.mktemp("finished")
    out, cache = folder / "out", folder / "cache"
    run = run_m0("analyze", str(vod), str(out), "--analyzer", "slow", "-f", "csv",
                 env=dict(dists_in(folder / "site")("m0-slow", SLOW), M0_SLOW="0",
                          M0_CACHE_DIR=str(cache)))
    assert run.returncode == 0, run.stderr
    assert len(listed_clips(out)["highlights.json"]) == 2
    return out, cache


@pytest.fixture
def finished(finished_once, tmp_path, own_cache) -> Path:
    """A folder holding a finished run of ``vod`` (report and csv too), the test's analysis
    cache holding what that run put there: a copy of :func:`finished_once`, each run of m0
    1-3 s."""
    out = tmp_path / "out"
    shutil.copytree(finished_once[0], out)
    shutil.copytree(finished_once[1], own_cache, dirs_exist_ok=True)
    return out


def _new_clip_written(out: Path, since: float) -> bool:
    """A clip of the rerun is complete (wherever the rerun keeps it while it runs)."""
    for path in out.rglob("*.mp4"):
        try:
            if not path.name.startswith(".partial-") and path.stat().st_mtime > since \
                    and path.stat().st_size > 0:
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize("signum", sweep([signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                                           {signal.SIGINT, signal.SIGKILL}),
                         ids=["ctrl-c", "sigterm", "sigkill"])
@pytest.mark.parametrize("when", ["analysing", "after a clip was cut"])
def test_an_interrupted_rerun_keeps_the_previous_outputs(finished, vod, slow_env, when,
                                                         signum, tmp_path):
    before = snapshot(finished)
    began = time.time()
    if when == "analysing":
        env = dict(slow_env, M0_SLOW="0.6", M0_FED=str(tmp_path / "fed"))
    else:  # clip 2 is cut at the speed it plays: the run is still cutting it when it is hit
        env = dict(slow_env, M0_SLOW="0",
                   M0_FFMPEG=_ffmpeg_wrapper(tmp_path, "02_0h", 'exec "$REAL" -re "$@"'))
    proc = m0_popen("analyze", str(vod), str(finished), "--analyzer", "slow", "-f", "csv",
                    "--no-cache", "-l", "12", env=env)
    if when == "analysing":
        wait_for(lambda: any(finished.glob(f"{PREFIX}*")) and (tmp_path / "fed").exists(),
                 60, "the rerun analysing")
    else:
        wait_for(lambda: _new_clip_written(finished, began), 120, "a clip of the rerun")
    assert proc.poll() is None, "the rerun ended before it could be interrupted"
    os.killpg(proc.pid, signum)
    stderr, _ = _finish(proc)
    assert not wait_gone(slow_env["M0_TEST_TAG"], 10)
    if signum != signal.SIGKILL:
        assert snapshot(finished) == before
        # it said only 'Error: interrupted': it says what it left
        assert stderr.splitlines()[-1] == (f"Error: interrupted; the previous results in "
                                           f"{finished} were kept"), stderr
    else:  # its private folder is left (hidden), removed by the next run; nothing else moved
        assert {k: v for k, v in snapshot(finished).items() if not k.startswith(".m0-run-")} \
            == before
    assert_consistent_after_next_run(finished, vod, slow_env)


#: An analyzer plugin that makes the file M0_WAITING and waits, where M0_WAIT says: as m0
#: loads its plugins (``loading``) or builds the analyzer as it plans the run (``planning``).
WAITS = '''
import os, time
from m0core import hookimpl

def _wait(when):
    if os.environ.get("M0_WAIT") == when:
        open(os.environ["M0_WAITING"], "a").close()
        time.sleep(60)

class Waits:
    hop = 0.1
    def __init__(self):
        _wait("planning")
    def feed(self, chunk):
        return []

@hookimpl
def m0_register_analyzers(register):
    _wait("loading")
    register("waits", Waits)
'''


@pytest.mark.parametrize("when", ["loading", "planning"])
def test_a_rerun_stopped_before_it_made_anything_says_the_previous_results_were_kept(
        finished, vod, fake_dist, tmp_path, when):
    """A rerun hit by Ctrl-C before its private folder was there (m0 loading its plugins,
    planning the run) said only 'Error: interrupted', not that the previous results were
    kept (they were): it says so, as a rerun stopped later does."""
    before = snapshot(finished)
    waiting = tmp_path / "waiting"
    env, tag = tagged_env(dict(fake_dist("m0-waits", WAITS), M0_WAIT=when,
                               M0_WAITING=str(waiting)))
    proc = m0_popen("analyze", str(vod), str(finished), "--analyzer", "waits", env=env)
    wait_for(waiting.exists, 60, f"the rerun {when}")
    assert not any(finished.glob(f"{PREFIX}*"))
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C
    stderr, _ = _finish(proc)
    assert proc.returncode == 130, stderr
    assert stderr.splitlines()[-1] == (f"Error: interrupted; the previous results in "
                                       f"{finished} were kept"), stderr
    assert snapshot(finished) == before
    assert not wait_gone(tag, 10)


def assert_consistent_after_next_run(out: Path, vod: Path, env: dict[str, str]) -> None:
    run = run_m0("analyze", str(vod), str(out), "--analyzer", "slow", "-f", "csv", "-l", "12",
                 env=dict(env, M0_SLOW="0"))
    assert run.returncode == 0, run.stderr
    assert_consistent(out)
    clips = listed_clips(out)["highlights.json"]
    assert sorted(n for n in os.listdir(out) if n.endswith(".mp4")) == sorted(clips)


def test_a_failed_index_write_leaves_no_listing_of_removed_clips(finished, vod, slow_env):
    """index.json cannot be replaced (a folder took its place): the rerun fails with one
    line; highlights.json, the report and the table still list clips that all exist."""
    (finished / "index.json").unlink()
    (finished / "index.json").mkdir()
    (finished / "index.json" / "keep").write_text("x")
    before = snapshot(finished)
    run = run_m0("analyze", str(vod), str(finished), "--analyzer", "slow", "-f", "csv",
                 "-l", "12", env=dict(slow_env, M0_SLOW="0"))
    assert_one_error_line(run, "index.json")
    assert snapshot(finished) == before
    (finished / "index.json" / "keep").unlink()
    (finished / "index.json").rmdir()
    for clips in listed_clips(finished).values():
        assert all((finished / c).is_file() for c in clips)


def test_a_completed_rerun_replaces_the_outputs_whole(finished, vod, slow_env):
    """Fewer, other clips: the previous run's clips are gone, every listing is the new one."""
    old = set(listed_clips(finished)["highlights.json"])
    (finished / "mine.mp4").write_bytes(b"a file of the user's")
    run = run_m0("analyze", str(vod), str(finished), "--analyzer", "slow", "-f", "csv",
                 "--max-clips", "1", "-l", "8", env=dict(slow_env, M0_SLOW="0"))
    assert run.returncode == 0, run.stderr
    new = listed_clips(finished)
    assert len(new["highlights.json"]) == 1 and set(new["report.html"]) == \
        set(new["highlights.json"]) == set(new["highlights.csv"])
    assert (finished / "mine.mp4").read_bytes() == b"a file of the user's"
    (finished / "mine.mp4").unlink()
    assert_consistent(finished)
    for name in old - set(new["highlights.json"]):
        assert not (finished / name).exists()


def test_a_rerun_without_the_report_leaves_no_empty_thumbnail_folder(finished, vod, slow_env):
    assert (finished / "thumbs").is_dir()
    (finished / "mine").mkdir()  # an empty folder of the user's stays
    run = run_m0("analyze", str(vod), str(finished), "--analyzer", "slow", "--no-report",
                 env=dict(slow_env, M0_SLOW="0"))
    assert run.returncode == 0, run.stderr
    assert not (finished / "thumbs").exists() and (finished / "mine").is_dir()
    assert_consistent(finished)


# -- fault injection on a rerun ---------------------------------------------------------------

def test_a_clip_ffmpeg_killed_in_a_rerun(finished, vod, slow_env, tmp_path):
    """Clip 2's ffmpeg dies mid-clip: the rerun fails with one line saying so and that the
    previous results were kept — the folder is exactly as the finished run left it; no
    process is left."""
    before = snapshot(finished)
    env = dict(slow_env, M0_SLOW="0",
               M0_FFMPEG=_ffmpeg_wrapper(tmp_path, "02_0h", 'exec "$REAL" -re "$@"'))
    proc = m0_popen("analyze", str(vod), str(finished), "--analyzer", "slow", "-f", "csv",
                    "--no-cache", "--workers", "2", env=env)
    wait_for(lambda: _named(env["M0_TEST_TAG"], "-re"), 60, "clip 2 being cut")
    time.sleep(0.5)
    _named(env["M0_TEST_TAG"], "-re")[0].kill()
    stderr, _ = _finish(proc, 60)
    line = assert_one_error_line(_run_of(proc, stderr), "1 of 2 clips failed")
    assert f"the previous results in {finished} were kept" in line
    assert not wait_gone(env["M0_TEST_TAG"], 10)
    assert snapshot(finished) == before
    assert_consistent(finished)


def test_a_failed_first_run_publishes_what_it_made(vod, slow_env, tmp_path):
    """With no previous results to keep, a run whose clip 2 cannot be cut publishes clip 1
    and a listing that says clip 2 failed (and exits with the error)."""
    out = tmp_path / "first"
    env = dict(slow_env, M0_SLOW="0",
               M0_FFMPEG=_ffmpeg_wrapper(tmp_path, "02_0h", "exit 1"))
    run = run_m0("analyze", str(vod), str(out), "--analyzer", "slow", "--no-cache", env=env)
    assert run.returncode == 1
    assert "1 of 2 clips failed" in run.stderr and "were kept" not in run.stderr
    rows = json.loads((out / "highlights.json").read_text())["highlights"]
    assert rows[0]["clip"] and rows[1]["clip"] is None and rows[1]["clip_error"]
    assert sorted(n for n in os.listdir(out) if n.endswith(".mp4")) == [rows[0]["clip"]]
    assert_consistent(out)


def test_a_run_never_removes_its_input_listed_by_the_previous_run(finished, slow_env):
    """The input is a clip of the previous run in the same folder (a rerun would remove it as
    stale): one error line before anything is analysed; the folder is unchanged."""
    before = snapshot(finished)
    clip = finished / listed_clips(finished)["highlights.json"][0]
    run = run_m0("analyze", str(clip), str(finished), "--analyzer", "slow", "-l", "2",
                 env=dict(slow_env, M0_SLOW="0"))
    assert_one_error_line(run, f"{clip}: would replace or remove the input")
    assert snapshot(finished) == before


def test_a_run_never_overwrites_its_input_named_like_its_clip(finished, vod, slow_env,
                                                             tmp_path):
    """The input lies in the output folder under the name the run's first clip gets: one
    error line when the clips would be published; the input is intact, no clip is left."""
    folder = tmp_path / "collection"
    folder.mkdir()
    name = listed_clips(finished)["highlights.json"][0]  # the same run makes the same names
    (folder / name).write_bytes(vod.read_bytes())
    before = snapshot(folder)
    run = run_m0("analyze", str(folder / name), str(folder), "--analyzer", "slow",
                 env=dict(slow_env, M0_SLOW="0"))
    assert_one_error_line(run, f"{folder / name}: would replace or remove the input")
    assert snapshot(folder) == before


#: tmpfs sizes from too small for anything to enough for all but the last files. The default
#: tier runs one, a disk that fills half way through the rerun; the slow tier the others.
DISK_SIZES = sweep(["16k", "200k", "400k", "700k", "900k", "1100k", "1300k"], {"700k"})


@pytest.mark.parametrize("size", DISK_SIZES)
def test_a_full_disk_at_every_write_of_a_rerun(vod, slow_env, tmp_path, size):
    """A finished run on a small tmpfs, then a rerun with other clips that fills the disk at
    some write (clips, their temporaries, the JSON files, the report, the table): it fails
    with one line and changes nothing, or completes; either way every listing holds."""
    env = dict(slow_env, M0_SLOW="0")
    with tmpfs(tmp_path / "disk", size="4m") as disk:
        out = disk / "out"
        first = run_m0("analyze", str(vod), str(out), "--analyzer", "slow", "-l", "4",
                       "-f", "csv", env=env)
        assert first.returncode == 0, first.stderr
        before = snapshot(out)
        used = sum((out / n).stat().st_size for n in files(out))
        # fill the disk so that only `size` is left for the rerun
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler = disk / "filler"
        with open(filler, "wb") as fh:
            fh.write(b"\0" * max(0, free - _bytes(size)))
        rerun = run_m0("analyze", str(vod), str(out), "--analyzer", "slow", "-l", "6",
                       "-f", "csv", "--no-cache", env=env)
        if rerun.returncode == 0 and "Warning" not in rerun.stderr:
            assert_consistent(out)
        else:  # failed, clips or not: the previous results are kept as they were
            assert "Traceback" not in rerun.stderr
            assert snapshot(out) == before, rerun.stderr
            assert_consistent(out)
        filler.unlink()
        assert used > 0


def _bytes(size: str) -> int:
    return int(size.rstrip("k")) * 1024


@pytest.mark.parametrize("how", ["read-only", "full"])
def test_a_cache_that_cannot_be_written_is_no_error(vod, tmp_path, how):
    """The cache folder is on a read-only or a full disk: the run completes, uncached."""
    with tmpfs(tmp_path / "cache", size="8k", read_only=how == "read-only") as folder:
        if how == "full":
            with open(folder / "filler", "wb") as fh:
                try:
                    fh.write(b"\0" * 64 * 1024)
                except OSError:
                    pass
        env = dict(os.environ, M0_CACHE_DIR=str(folder))
        for _ in range(2):
            run = run_m0("analyze", str(vod), str(tmp_path / "out"), "--json", env=env)
            assert run.returncode == 0, run.stderr
            assert json.loads(run.stdout)["timings"]["cached"] == 0.0
        assert not [n for n in files(folder) if n != "filler"]
    assert_consistent(tmp_path / "out")


@pytest.mark.parametrize("how", ["read-only", "full"])
def test_a_batch_whose_ledger_cannot_be_written(vod, tmp_path, how):
    """The batch folder (and its ledger) on a read-only or full disk: one line, no traceback,
    nothing half-written; the ledger of a finished batch is still readable."""
    with tmpfs(tmp_path / "disk", size="8m" if how == "read-only" else "64k") as disk:
        if how == "read-only":
            run = run_m0("batch", str(vod), str(disk / "out"))
            assert run.returncode == 0, run.stderr
            subprocess_run(["mount", "-o", "remount,ro", str(disk)])
        else:
            with open(disk / "filler", "wb") as fh:
                try:
                    fh.write(b"\0" * 128 * 1024)
                except OSError:
                    pass
        again = run_m0("batch", str(vod), str(disk / "out"))
        assert "Traceback" not in again.stderr, again.stderr
        if how == "read-only":
            assert again.returncode == 0 and "1 skipped" in again.stderr + again.stdout \
                or again.returncode == 1 and again.stderr.count("Error: ") == 1, again.stderr
            status = run_m0("batch", "--status", str(disk / "out"))
            assert "Traceback" not in status.stderr and "completed" in status.stdout, \
                status.stdout + status.stderr
            subprocess_run(["mount", "-o", "remount,rw", str(disk)])
            assert_consistent(next((disk / "out").glob("*_highlights")))
        else:
            assert_one_error_line(again, "batch ledger", "disk is full")
            assert [n for n in files(disk) if n.endswith((".mp4", ".tmp")) or "/." in n] == []


def subprocess_run(argv: list[str]) -> None:
    import subprocess

    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"{' '.join(argv)}: {done.stderr.strip()}")


def test_two_runs_publishing_into_one_folder_at_once_leave_it_whole(tmp_path, monkeypatch):
    """Run A replaces a previous run's clips x1, x2 with y1, y2 while run B, into the same
    folder, publishes x1, x2 again; renames are slow (a network disk). Whichever publishes
    last, every clip its record lists is there (A removed B's fresh x1, x2 as stale)."""
    import threading

    from m0core import staging as staging_module
    from m0core.staging import Staging

    out = tmp_path / "out"
    out.mkdir()

    def record(folder: Path, clips: list[str]) -> None:
        for name in clips:
            (folder / name).write_text(f"{folder.name} {name}")
        (folder / "highlights.json").write_text(json.dumps(
            {"highlights": [{"clip": name} for name in clips], "outputs": []}))

    record(out, ["x1.mp4", "x2.mp4"])
    runs = {"A": (Staging(out), ["y1.mp4", "y2.mp4"]), "B": (Staging(out), ["x1.mp4", "x2.mp4"])}
    for run, clips in runs.values():
        record(run.dir, clips)
    real = os.replace

    def slow(a, b):
        time.sleep(0.1)
        real(a, b)

    monkeypatch.setattr(staging_module.os, "replace", slow)
    threads = [threading.Thread(target=run.publish, args=([str(run.dir / c) for c in clips],))
               for run, clips in runs.values()]
    threads[0].start()
    time.sleep(0.05)
    threads[1].start()
    for thread in threads:
        thread.join()
    monkeypatch.setattr(staging_module.os, "replace", real)
    listed = listed_clips(out)["highlights.json"]
    assert listed in (["y1.mp4", "y2.mp4"], ["x1.mp4", "x2.mp4"])
    assert sorted(n for n in os.listdir(out) if n.endswith(".mp4")) == listed


def test_publishing_goes_on_where_the_file_system_has_no_locks(tmp_path, monkeypatch):
    """Some network mounts refuse ``flock`` (ENOLCK): the run publishes without the lock."""
    import errno
    import fcntl

    from m0core.staging import Staging

    def refuse(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", refuse)
    out = tmp_path / "out"
    out.mkdir()
    run = Staging(out)
    (run.dir / "01.mp4").write_text("clip")
    (run.dir / "highlights.json").write_text(json.dumps({"highlights": [{"clip": "01.mp4"}],
                                                         "outputs": []}))
    assert run.publish([str(run.dir / "01.mp4")]) == []
    assert sorted(os.listdir(out)) == ["01.mp4", "highlights.json"]
