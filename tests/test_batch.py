"""Batches: the seed's API, ``m0 batch``, the ledger, resuming after SIGKILL and SIGTERM, a job
whose process dies, Dask on a real LocalCluster, and the 100-video runs (slow)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import LOUD_AT, cut_copy, ended_pid, run_m0
from procs import cutting_clips, m0_popen, ours, running_tasks, tagged_env, wait_for, wait_gone

from m0core import BatchJob, BatchProcessor, M0Error
from m0core.batch.ledger import LEDGER_FILE, Identity, Ledger
from m0core.batch.runner import find_inputs, job_folders, read_list
from m0core.errors import InputError, OptionError
from m0core.options import Options

#: Dask's faults (a stopped, killed or lost cluster, a hung worker, an address that never
#: answers) run in the slow tier, which CI runs too; the default tier keeps a scheduler that
#: dies mid-batch, a stopped batch on a running cluster and the local cluster's own run.
DASK_FAULT = pytest.mark.slow


def _copies(src: Path, folder: Path, n: int, stem: str = "vod") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        dst = folder / f"{stem}{i:03d}{src.suffix}"
        shutil.copy(src, dst)
        paths.append(dst)
    return paths


def _ledger_rows(out: Path) -> list[dict]:
    db = sqlite3.connect(out / LEDGER_FILE)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY path")]
    finally:
        db.close()


def _statuses(out: Path) -> list[str]:
    if not (out / LEDGER_FILE).exists():
        return []
    try:
        return [r["status"] for r in _ledger_rows(out)]
    except sqlite3.Error:
        return []


def _stats(paths: list[str]) -> dict[str, tuple[int, int]]:
    return {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in paths}


# -- Python API -------------------------------------------------------------------------------

def test_seed_api_runs_jobs_in_parallel_and_reports_each(vod, tmp_path):
    videos = _copies(vod, tmp_path / "in", 3)
    jobs = [BatchJob(str(v), str(tmp_path / f"output{i}"), job_id=f"job{i}")
            for i, v in enumerate(videos)]
    jobs[2] = BatchJob(str(videos[2]), str(tmp_path / "output2"), -25.0, clip_length=10,
                       job_id="job2")
    calls = []
    processor = BatchProcessor(max_workers=2)
    results = processor.process_batch(jobs, lambda *a: calls.append(a))

    assert list(results) == ["job0", "job1", "job2"]
    assert sorted(c[0] for c in calls) == [1, 2, 3] and {c[1] for c in calls} == {3}
    assert {c[2] for c in calls} == set(results)
    for result in results.values():
        assert result["status"] == "completed", result["error"]
        assert result["highlights"] == len(LOUD_AT) and result["clips"] == len(LOUD_AT)
        assert all(Path(p).is_file() for p in result["outputs"])
        assert result["attempts"] == 1 and result["seconds"] > 0
    doc = json.loads((tmp_path / "output2" / "highlights.json").read_text())
    assert doc["selector"] == {"name": "crest", "params": {}, "threshold": -25.0}
    assert json.loads((tmp_path / "output0" / "highlights.json").read_text())[
        "selector"]["name"] == "standout"
    clip = Path(results["job2"]["outputs"][0])
    assert clip.parent == tmp_path / "output2"


def test_add_job_and_duplicate_ids(vod, tmp_path):
    processor = BatchProcessor(max_workers=1)
    processor.add_job(video_path=str(vod), output_path=str(tmp_path / "a"), job_id="x",
                      clips=False)
    processor.add_job(BatchJob(str(tmp_path / "missing.mp4"), tmp_path / "b", job_id="y"))
    results = processor.process_batch()
    assert results["x"]["status"] == "completed" and results["x"]["clips"] is None
    assert results["y"]["status"] == "failed"
    assert results["y"]["error"].endswith("missing.mp4: no such file")
    assert not (tmp_path / "b").exists()
    with pytest.raises(M0Error, match="repeated: x"):
        processor.process_batch([BatchJob(str(vod), tmp_path / "c", job_id="x")] * 2)


def test_a_recording_gone_while_its_batch_ran_runs_when_it_is_back(wav, tmp_path):
    """A recording moved away while its batch ran (a USB disk that dropped out, a NAS
    that went away) failed 'no such file', recorded against the file it keyed: once back,
    the same batch reported it failed without running it ('not retried', --retry-failed),
    a file that is there said to be missing. A job that failed on another file than its row
    keys (gone, rewritten) is the machine's, and runs again. (An analyzer registered here
    runs the jobs in this process, one after the other: quick, and the same ledger.)"""
    from m0_plugins.rms.streaming import RmsStreaming
    from m0core.testing import registered

    first, second = _copies(wav, tmp_path / "in", 2)
    away = tmp_path / "away.wav"
    ledger = tmp_path / "out" / LEDGER_FILE

    def take_away(done, total, job_id, result):  # before the second job starts
        if done == 1:
            second.rename(away)

    with registered("analyzers", "rms-here", RmsStreaming):
        opts = Options.build(analyzer="rms-here", clips=False, report=False)
        jobs = [BatchJob(v, tmp_path / "out" / v.stem, options=opts) for v in (first, second)]
        results = BatchProcessor(max_workers=1, ledger=ledger).process_batch(jobs, take_away)
        assert results[str(second)]["status"] == "failed"
        assert results[str(second)]["error"].endswith("no such file")
        away.rename(second)
        again = BatchProcessor(max_workers=1, ledger=ledger).process_batch(jobs)
    assert [r["status"] for r in again.values()] == ["skipped", "completed"]


# -- ledger and inputs ------------------------------------------------------------------------

def test_ledger_marks_a_dead_runs_jobs_interrupted_and_locks(tmp_path, vod):
    path = tmp_path / LEDGER_FILE
    identity = Identity.of(vod, "h")
    with Ledger(path, lock=True) as ledger:
        ledger.add(identity, str(tmp_path / "x"))
        ledger.start(identity.key)
        with pytest.raises(M0Error, match="another m0 batch is running"):
            Ledger(path, lock=True)
    with Ledger(path) as reader:  # reading (--status) takes no lock and changes nothing
        assert reader.get(identity.key).status == "running"
    with Ledger(path, lock=True) as ledger:
        row = ledger.get(identity.key)
        assert row.status == "interrupted" and row.attempts == 1
    assert path.with_name(path.name + "-wal").exists() or \
        sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_jobs_given_one_folder_each_get_a_sub_folder_of_it(vod, tmp_path):
    """The seed's ``[BatchJob(video, output_path) for video in videos]``: each run replaces
    what its folder holds, so in one folder one job's clips vanished while it said
    'completed'; each job gets ``<stem>_highlights`` in it, as ``m0 batch`` names them."""
    other = tmp_path / "other.mp4"
    shutil.copy(vod, other)
    out = tmp_path / "out"
    jobs = [BatchJob(str(vod), str(out)), BatchJob(str(other), str(tmp_path / "." / "out"),
                                                     max_clips=1)]
    results = BatchProcessor(max_workers=2).process_batch(jobs)
    assert [jobs[0].output_path, jobs[1].output_path] == [str(out), str(tmp_path / "." / "out")]
    for video, result, clips in [(vod, results[str(vod)], len(LOUD_AT)),
                                 (other, results[str(other)], 1)]:
        assert result["status"] == "completed", result["error"]
        folder = out / f"{video.stem}_highlights"
        assert Path(result["output_path"]).resolve() == folder.resolve()
        assert result["clips"] == clips == len(list(folder.glob("*.mp4")))
        assert all(Path(p).is_file() for p in result["outputs"])
    with pytest.raises(OptionError, match="the same recording twice into one output folder"):
        BatchProcessor().process_batch([BatchJob(str(vod), str(out), job_id=n) for n in "ab"])
    with pytest.raises(OptionError, match="job ids must be unique; repeated: same"):
        BatchProcessor().process_batch([BatchJob(str(vod), str(tmp_path / n), job_id="same")
                                        for n in ("a", "b")])
    assert not (tmp_path / "a").exists()


def test_one_recording_in_two_jobs_says_how_to_tell_them_apart(vod, tmp_path):
    """Two jobs of one recording with other options, into two folders (the seed's BatchJob
    takes no job_id positionally), were 'job ids must be unique; repeated: vod.mp4', with no
    word of what a job id is when none was given."""
    jobs = [BatchJob(str(vod), str(tmp_path / "a")), BatchJob(str(vod), str(tmp_path / "b"),
                                                              max_clips=1)]
    with pytest.raises(OptionError) as raised:
        BatchProcessor().process_batch(jobs)
    assert str(raised.value) == (f"job ids must be unique; repeated: {vod} (a job's id is its "
                                 "video_path unless BatchJob(..., job_id=...) names it)")
    assert not (tmp_path / "a").exists()


def test_jobs_that_are_not_batch_jobs_are_one_option_error(vod, tmp_path):
    """``process_batch(["a.mp4"])`` was ``AttributeError: 'str' object has no attribute
    'job_id'``, one job not in a list a TypeError, a dict of options an AttributeError and a
    callback that cannot be called a TypeError once the first job had run."""
    out = str(tmp_path / "out")
    processor = BatchProcessor(max_workers=1)
    with pytest.raises(OptionError, match="jobs must be BatchJob.* not str"):
        processor.process_batch([str(vod)])
    with pytest.raises(OptionError, match="jobs must be a list of BatchJob, not BatchJob"):
        processor.process_batch(BatchJob(str(vod), out))
    with pytest.raises(OptionError, match="options must be an Options"):
        BatchJob(str(vod), out, options={"max_clips": 1})
    with pytest.raises(OptionError, match="progress_callback must be a function"):
        processor.process_batch([BatchJob(str(vod), out)], progress_callback=5)
    assert not (tmp_path / "out").exists()


def test_a_batch_flag_that_is_not_a_bool_is_one_option_error(vod, tmp_path):
    """``BatchJob(..., use_streaming="no")`` ran the streaming analyzer and
    ``BatchProcessor(retry_failed="no")`` retried, the strings taken for true."""
    with pytest.raises(OptionError, match="use_streaming must be True or False, not 'no'"):
        BatchJob(str(vod), str(tmp_path / "out"), use_streaming="no")
    with pytest.raises(OptionError, match="retry_failed must be True or False, not 'no'"):
        BatchProcessor(retry_failed="no")
    assert BatchJob(str(vod), str(tmp_path), use_streaming=0).options.analyzer == "rms-legacy"


def test_folders_unique_when_stems_collide_and_stable_across_runs(tmp_path):
    a, b, c = tmp_path / "x" / "vod.mp4", tmp_path / "y" / "vod.mp4", tmp_path / "z.mkv"
    out = tmp_path / "out"
    first = job_folders([a, c], out)
    assert first[a] == out.resolve() / "vod_highlights"
    assert first[c] == out.resolve() / "z_highlights"
    taken = {str(folder): str(path) for path, folder in first.items()}
    second = job_folders([b, a, c], out, taken)
    assert second[a] == first[a] and second[c] == first[c]
    assert second[b].name.startswith("vod-") and second[b] != first[a]
    fresh = job_folders([a, b], out)
    assert len(set(fresh.values())) == 2 and fresh == job_folders([b, a], out)


def test_folders_differ_by_more_than_case(tmp_path):
    """``day1/Stream.mp4`` and ``day2/stream.mp4`` (or a ``café`` written by a Mac, NFD, and
    one by Linux, NFC) got ``Stream_highlights`` and ``stream_highlights``: one folder on
    the SMB share, APFS or exFAT disk a studio's OUT_DIR is often on, where each job removed
    the other's clips. Such names get a folder with the hash, as names that are the same."""
    out = tmp_path / "out"
    inputs = [tmp_path / "day1" / "Stream.mp4", tmp_path / "day2" / "stream.mp4",
              tmp_path / "caf\u00e9.mp4", tmp_path / "cafe\u0301.mkv"]
    folders = job_folders(inputs, out)
    assert len({unicodedata.normalize("NFC", str(f)).casefold()
                for f in folders.values()}) == 4
    assert all(f.name.count("-") == 1 for f in folders.values())
    again = job_folders(inputs[1:2], out, {str(out.resolve() / "STREAM_highlights"): "x.mp4"})
    assert again[inputs[1]].name.startswith("stream-")


def test_find_inputs_globs_folders_and_exclusions(tmp_path, vod):
    root = tmp_path / "vods"
    _copies(vod, root / "2024" / "jan", 2)
    _copies(vod, root / "2024", 1, stem="top")
    (root / "notes.txt").write_text("not media")
    out = root / "out"
    _copies(vod, out / "old_highlights", 1, stem="clip")
    deep = find_inputs([str(root / "**" / "*.mp4")], exclude=out)
    assert [p.name for p in deep] == ["vod000.mp4", "vod001.mp4", "top000.mp4"]
    assert find_inputs([str(root)], exclude=out) == sorted(deep)
    both = find_inputs([str(root / "2024" / "*.mp4"), str(root / "2024" / "top000.mp4")])
    assert [p.name for p in both] == ["top000.mp4"]
    with pytest.raises(InputError, match="matched nothing"):
        find_inputs([str(root / "*.mkv")])


def test_find_inputs_leaves_out_the_clips_of_earlier_runs(tmp_path):
    """A folder of recordings where ``m0 analyze`` left its output folders: a batch over the
    folder (or a glob) took the clips of those runs as recordings to analyse. What the
    highlights.json there lists is left out, not the folder's other files; a clip named on its
    own is still taken."""
    root = tmp_path / "vods"
    (root / "stream_highlights").mkdir(parents=True)
    (root / "stream.mp4").write_bytes(b"x")
    (root / "stream_highlights" / "01_0h00m12s.mp4").write_bytes(b"x")
    (root / "stream_highlights" / "highlights.json").write_text(json.dumps({
        "schema": "m0.highlights/1", "highlights": [{"clip": "01_0h00m12s.mp4"}],
        "outputs": [], "compilation": None}))
    (root / "talk.mp4").write_bytes(b"x")  # m0 analyze talk.mp4 vods/: its folder is OUT too
    (root / "highlights.json").write_text(json.dumps({
        "schema": "m0.highlights/1", "highlights": [{"clip": None}], "outputs": ["index.json"],
        "compilation": None}))
    assert [p.name for p in find_inputs([str(root)])] == ["stream.mp4", "talk.mp4"]
    assert [p.name for p in find_inputs([str(root / "**" / "*.mp4")])] == ["stream.mp4",
                                                                           "talk.mp4"]
    clip = root / "stream_highlights" / "01_0h00m12s.mp4"
    assert find_inputs([str(clip)]) == [clip.resolve()]


def test_a_folder_leaves_out_hidden_files_and_folders_as_a_glob_does(tmp_path):
    """A folder of recordings on a disk a Mac wrote to (``._stream.mp4``, 4 KB of resource
    fork beside each recording), with a desktop's ``.Trash-1000/`` and an ``m0 analyze``
    running into it (its ``.m0-run-*/`` folder of half-written clips): ``m0 batch vods/`` took
    each as a recording (a failed job per ``._`` file, exit 1; a deleted or half-written file
    analysed), where ``"vods/**/*.mp4"`` leaves hidden files out."""
    root = tmp_path / "vods"
    for name in ("stream.mp4", "._stream.mp4", ".Trash-1000/files/old.mp4",
                 "day 2/talk.mkv", "day 2/.m0-run-1234-ab/01_0h00m12s.mp4"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    wanted = [root / "day 2" / "talk.mkv", root / "stream.mp4"]
    assert find_inputs([str(root)]) == [p.resolve() for p in wanted]
    assert sorted(find_inputs([str(root / "**" / "*.m*")])) == [p.resolve() for p in wanted]
    hidden = root / "._stream.mp4"
    assert find_inputs([str(hidden)]) == [hidden.resolve()]  # named on its own: taken


def test_a_recording_named_with_brackets_is_found(tmp_path):
    """'Stream [1080p].mp4' (yt-dlp names every download 'Title [id].mp4'), named on its
    own or as the shell expands ``vods/*.mp4``, was read as a glob ('[1080p]': one of those
    characters) and matched nothing: 'no input files: ... matched nothing', or with other
    inputs a warning and the recording left out. A pattern naming a file or folder that is
    there is that file or folder; one that is not is a glob."""
    root = tmp_path / "vods [2024]"
    root.mkdir()
    for name in ("Stream [1080p].mp4", "Stream 1.mp4"):
        (root / name).write_bytes(b"x")
    bracketed = root / "Stream [1080p].mp4"
    assert find_inputs([str(bracketed)]) == [bracketed.resolve()]
    assert find_inputs([str(root)]) == sorted(p.resolve() for p in root.iterdir())
    assert find_inputs([str(tmp_path / "vods*" / "Stream [0-9].mp4")]) == \
        [(root / "Stream 1.mp4").resolve()]


def test_an_empty_pattern_is_an_error_not_the_current_folder(tmp_path, monkeypatch):
    """``m0 batch "$VODS" out/`` with VODS unset gave the pattern '', taken for the current
    folder: every recording under it was batched (or 'no input files: no pattern matched
    nothing'). It is one error line naming it."""
    (tmp_path / "home.mp4").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    for patterns in ([""], ["", "home.mp4"]):
        with pytest.raises(InputError, match=r"^an empty PATTERN \(''\) names no file$"):
            find_inputs(patterns)


def test_a_glob_matching_folders_takes_their_recordings(tmp_path):
    """``m0 batch "vods/day*" out/``, quoted as the docs advise, said 'no input files:
    vods/day* matched nothing' (a glob took files only), where the shell's expansion of it,
    unquoted, names each folder and batches its recordings. A folder a glob matches is taken
    as a folder is: its media files, hidden ones left out."""
    root = tmp_path / "vods"
    for name in ("day1/a.mp4", "day2/b.mkv", "day2/notes.txt", "day2/.old/c.mp4", "top.mp4"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    days = [root / "day1" / "a.mp4", root / "day2" / "b.mkv"]
    assert find_inputs([str(root / "day*")]) == days
    assert find_inputs([str(root / "*")]) == days + [root / "top.mp4"]


def test_a_folder_of_camera_and_studio_files_is_batched(tmp_path):
    """A camcorder's card (AVCHD: ``PRIVATE/AVCHD/BDMV/STREAM/00001.MTS``), a broadcast
    camera's ``.mxf``, a DAW's ``.aif``/``.aiff`` mix, a phone's ``.3gp``: ``m0 batch card/
    out/`` said 'no input files: card matched nothing' (or left them out beside others),
    where ``"card/**/*.*"`` batched them and m0 reads each, and its clips keep most of these
    containers. A folder takes them."""
    names = ["PRIVATE/AVCHD/BDMV/STREAM/00001.MTS", "BDMV/STREAM/00002.m2ts", "cam/A001.MXF",
             "mix.aif", "stems/mix.aiff", "phone.3gp", "talk.mka", "call.wma", "show.asf",
             "dvd/VTS_01_1.VOB", "tape.dv", "web.ogv", "voice.oga", "theatre.ac3"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert sorted(find_inputs([str(tmp_path)])) == sorted(tmp_path / n for n in names)


def test_out_dir_may_be_the_recordings_folder(tmp_path, vod):
    """``cd vods; m0 batch "*.mp4" .`` (each recording's folder beside it) ran nothing:
    'no input files: *.mp4 matched nothing', as every file under OUT_DIR was left out. Only
    OUT_DIR's job folders (``<name>_highlights/``, a killed job's unlisted clip included)
    are."""
    root = tmp_path / "vods"
    (root / "day 2").mkdir(parents=True)
    shutil.copy(vod, root / "stream.mp4")
    (root / "day 2" / "talk.mp4").write_bytes(b"x")
    (root / "stream_highlights").mkdir()
    (root / "stream_highlights" / "01_0h00m12s.mp4").write_bytes(b"x")  # listed nowhere
    wanted = [root / "stream.mp4", root / "day 2" / "talk.mp4"]
    for pattern in (root, root / "**" / "*.mp4"):
        assert sorted(find_inputs([str(pattern)], exclude=root)) == sorted(wanted)
    assert find_inputs([str(root / "stream.mp4")], exclude=root / "..") == [wanted[0]]
    run = run_m0("batch", "*.mp4", ".", "--no-clips", "--no-report", "--json", cwd=root)
    assert run.returncode == 0, run.stderr
    assert [j["status"] for j in json.loads(run.stdout)["jobs"]] == ["completed"]
    assert (root / "stream_highlights" / "highlights.json").is_file()


def test_a_glob_leaves_out_every_file_of_earlier_batches(tmp_path, vod):
    """A studio's folder of recordings holding an earlier batch's OUT_DIR: ``m0 batch
    "vods/**" new/`` took that batch's ledger (``m0-batch.sqlite``, its ``.lock``), each
    job's ``highlights.json`` and ``thumbs/01.jpg`` as recordings: 4 failed jobs beside the
    one recording (not a media file, file is empty, no audio stream) and exit code 1."""
    root = tmp_path / "vods"
    root.mkdir()
    shutil.copy(vod, root / "stream.mp4")
    first = run_m0("batch", str(root / "stream.mp4"), str(root / "old"), "-q")
    assert first.returncode == 0, first.stderr
    assert (root / "old" / LEDGER_FILE).is_file()
    assert list((root / "old").glob("*_highlights/thumbs/*.jpg"))
    assert [p.name for p in find_inputs([str(root / "**")])] == ["stream.mp4"]
    again = run_m0("batch", str(root / "**"), str(tmp_path / "new"), "--json")
    assert again.returncode == 0, again.stderr
    assert [Path(j["video_path"]).name for j in json.loads(again.stdout)["jobs"]] == \
        ["stream.mp4"]


# -- m0 batch ---------------------------------------------------------------------------------

def test_a_resumed_batchs_eta_counts_only_the_jobs_that_run(tmp_path, vod, monkeypatch,
                                                           capsys):
    """A batch resumed after Ctrl-C (of 10 recordings, 8 done before, 1 failed before): those
    9 jobs ended at once, so the status line took the batch for 95 % done within a second and
    said ``ETA 0:01`` while the job left had half its work ahead (on 306 VODs, 200 done
    before: ETA 0:01-0:02 with 20 s left). Only the jobs that run count: the one job left,
    half-way after 30 s (a clock of the test's), is 30 s from the end."""
    from m0core.cli import batch_console

    videos = _copies(vod, tmp_path / "vods", 10)
    ledger = tmp_path / "out" / LEDGER_FILE

    def jobs(videos: list[Path]) -> list[BatchJob]:
        return [BatchJob(v, tmp_path / "out" / v.stem, clips=False, report=False)
                for v in videos]

    BatchProcessor(2, ledger=ledger).process_batch(jobs(videos[:8]))
    (tmp_path / "vods" / "vod009.mp4").unlink()  # fails for its file: not run next time
    BatchProcessor(2, ledger=ledger).process_batch(jobs(videos[9:]))
    results = BatchProcessor(2, ledger=ledger).process_batch(jobs(videos[:8] + videos[9:]))
    ended = list(results.values())
    assert [r["status"] for r in ended] == ["skipped"] * 8 + ["failed"]
    now = [1000.0]
    monkeypatch.setattr(batch_console.time, "monotonic", lambda: now[0])
    console = batch_console.BatchConsole(10)
    console.live = True
    for done, result in enumerate(ended, 1):
        console.job_done(done, 10, result["job_id"], result)
    console.job_progress("vod008.mp4", 0.0)
    now[0] += 30.0
    console.job_progress("vod008.mp4", 0.5)
    drawn = capsys.readouterr().err.split("\r")[-1]
    assert drawn.endswith("[9/10]  95 %  vod008.mp4 50 %  ETA 0:30"), drawn


def test_the_status_line_of_japanese_names_fits_the_terminal(monkeypatch, capsys):
    """A streamer's 'ライブ配信アーカイブ第1回ゲーム実況スペシャル.m4a': the status line was cut to
    the terminal's width in characters, each of those taking two columns, so it wrapped
    (123 columns in 80) and every redraw left a row behind. It is cut to the columns it
    takes."""
    from m0core.cli import batch_console

    monkeypatch.setenv("COLUMNS", "80")
    console = batch_console.BatchConsole(2)
    console.live = True
    for n in (1, 2):
        console.job_progress(f"vods/ライブ配信アーカイブ第{n}回ゲーム実況スペシャル.m4a", 0.4)
        console._drawn = 0.0  # drawn again at once
    drawn = capsys.readouterr().err.split("\r\x1b[K")[-1]
    wide = sum(unicodedata.east_asian_width(c) in ("W", "F") for c in drawn)
    assert "ライブ配信アーカイブ第2" in drawn and len(drawn) + wide <= 79, drawn


def test_the_status_line_names_a_running_job_as_its_line_does(monkeypatch, capsys):
    """day1/stream.mp4 and day2/stream.mp4 running at once were 'stream.mp4 40 %  stream.mp4
    70 %' on the status line, which of them nobody could tell, where each job's line says
    'day1/stream.mp4': the status line names them as their lines do."""
    from m0core.cli import batch_console

    monkeypatch.setenv("COLUMNS", "100")
    paths = ["/vods/day1/stream.mp4", "/vods/day2/stream.mp4"]
    console = batch_console.BatchConsole(2, names=batch_console.display_names(paths))
    console.live = True
    for path, fraction in zip(paths, (0.4, 0.7), strict=True):
        console.job_progress(path, fraction)
        console._drawn = 0.0  # drawn again at once
    drawn = capsys.readouterr().err.split("\r\x1b[K")[-1]
    assert "  day1/stream.mp4 40 %  day2/stream.mp4 70 %" in drawn, drawn


def test_a_name_with_a_joined_emoji_is_shown_whole_when_it_fits(monkeypatch, capsys):
    """'👨‍👩‍👧 family night 3.mp4' takes 21 columns (the family emoji, three people joined by
    zero-width joiners, is one emoji of two columns), but each of its five code points was
    counted as one or two columns (8), so the name was cut ('👨‍👩‍👧 family nigh…') where it
    fitted the 24 a running job's name is given. Columns are counted by wcwidth."""
    from m0core.cli import batch_console

    monkeypatch.setenv("COLUMNS", "100")
    console = batch_console.BatchConsole(1)
    console.live = True
    console.job_progress("👨\u200d👩\u200d👧 family night 3.mp4", 0.4)
    drawn = capsys.readouterr().err.split("\r\x1b[K")[-1]
    assert "👨\u200d👩\u200d👧 family night 3.mp4 40 %" in drawn, drawn


def test_a_command_starts_without_wcwidth_and_ascii_is_counted_without_it():
    """``m0 --help`` (and every command, ``m0 analyze -q``) imported wcwidth as it started,
    ~6 MiB and ~15 ms more than before it was used: it is imported where text that is not
    printable ASCII is measured, or cut, only. Printable ASCII is a column a character."""
    import subprocess
    import sys

    code = ("import contextlib, io, sys\n"
            "from m0core.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    main(['--help'])\n"
            "from m0core.cli.console import columns, fit\n"
            "print('wcwidth' in sys.modules, columns('family night 3.mp4'), "
            "fit('family night', 8, '~'), 'wcwidth' in sys.modules, columns('\u30e9\u30a4\u30d6'))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.split() == ["False", "18", "family~", "True", "6"], run.stderr


def test_a_jobs_line_says_which_of_two_recordings_of_one_name_it_is(tmp_path, vod,
                                                                   video_only):
    """A studio's ``vods/day 01/stream.mp4``, ``vods/day 02/stream.mp4``…: each finished
    job's line named the file only (``✗ stream.mp4: … no audio stream``, ten times a day
    over ten days), not which day's failed. It names the input below the folder they
    share; inputs of one folder are still named by their file name."""
    root = tmp_path / "vods"
    for day, src in (("day 01", vod), ("day 02", video_only)):
        (root / day).mkdir(parents=True)
        shutil.copy(src, root / day / "stream.mp4")
    run = run_m0("batch", str(root), str(tmp_path / "out"), "--no-clips", "--no-report")
    assert run.returncode == 1
    named = sorted(line.split(":")[0].split("] ")[1] for line in run.stderr.splitlines()
                   if line.startswith("["))
    assert named == ["✓ day 01/stream.mp4", "✗ day 02/stream.mp4"], run.stderr
    alone = run_m0("batch", str(root / "day 01"), str(tmp_path / "out1"), "--no-clips",
                   "--no-report")
    assert alone.returncode == 0 and "[1/1] ✓ stream.mp4: " in alone.stderr, alone.stderr


def test_a_recording_with_a_long_name_gets_a_folder_and_spoils_no_batch(tmp_path, vod):
    """A recording named with its stream's title, 250 bytes of Cyrillic (the most a file name
    takes is 255): ``<stem>_highlights`` was too long to be a folder, and the job's clean-up
    raised ``OSError: File name too long`` in the batch itself: ``m0 batch`` stopped with
    ``unexpected OSError``, the other recordings not run, and so again on every rerun. Its
    folder's name is cut to fit (with the hash that keeps it apart)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    long = inputs / ("ж" * 123 + ".mp4")
    shutil.copy(vod, long)
    shutil.copy(vod, inputs / "a.mp4")
    out = tmp_path / "out"
    run = run_m0("batch", str(inputs), str(out), "--workers", "1", "--no-clips",
                 "--no-report", "--json")
    assert run.returncode == 0, run.stderr
    jobs = json.loads(run.stdout)["jobs"]
    assert [j["status"] for j in jobs] == ["completed"] * 2
    folder = Path(jobs[1]["output_path"])
    assert folder.is_dir() and folder.name.endswith("_highlights")
    assert len(os.fsencode(folder.name)) <= 255 and folder.name.startswith("ж" * 100)


def test_a_name_that_is_not_utf8_fails_its_job_alone(tmp_path, vod):
    """A folder of recordings with one Latin-1 name (``caf\\xe9.mp4``, from an old disk or
    a zip): ``m0 batch`` ran no job at all and ended with ``unexpected UnicodeEncodeError``
    (its ledger cannot hold the name), and ``m0 analyze`` of that file too. Its job fails
    alone, with a one-line reason; the others go on."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    latin = os.fsdecode(os.fsencode(inputs) + b"/caf\xe9.mp4")
    shutil.copy(vod, latin)
    shutil.copy(vod, inputs / "ok.mp4")
    run = run_m0("batch", str(inputs), str(tmp_path / "out"), "--no-clips", "--no-report",
                 "--json")
    assert run.returncode == 1 and "unexpected" not in run.stderr, run.stderr
    jobs = {Path(j["video_path"]).name: j for j in json.loads(run.stdout)["jobs"]}
    assert jobs["ok.mp4"]["status"] == "completed"
    assert jobs["caf\udce9.mp4"]["status"] == "failed"
    assert jobs["caf\udce9.mp4"]["error"].endswith(
        "caf\ufffd.mp4: the file's name is not valid UTF-8; rename it")
    alone = run_m0("analyze", latin, str(tmp_path / "one"))
    assert alone.returncode == 1 and alone.stderr.strip().endswith(
        "the file's name is not valid UTF-8; rename it"), alone.stderr


def test_a_name_that_is_not_utf8_is_shown_one_way(tmp_path):
    """The job line of a Latin-1 ``caf\\xe9.mp4`` named it 'caf\\udce9.mp4' (Python's
    escape of the byte) before its error's 'caf\ufffd.mp4', and the table on stdout held the
    byte itself: no UTF-8, so a program reading it as UTF-8 (this test's) failed. Both show
    it as the error does."""
    latin = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.mp4")
    Path(latin).write_bytes(b"x")
    run = run_m0("batch", latin, str(tmp_path / "out"), "--no-clips")
    shown = f"{tmp_path}/caf\ufffd.mp4"
    assert run.stderr.splitlines()[0] == \
        "[1/1] ✗ caf\ufffd.mp4: the file's name is not valid UTF-8; rename it"
    assert run.stdout.splitlines()[1].endswith(f"  {shown}")


def test_a_jobs_progress_counts_the_clips_cut_after_its_analysis():
    """The analysis is 70 % of a job's progress, the clips still being cut at its end the
    rest but the last 5 %, its outputs being written: a job cutting clips after a cached
    analysis, or writing a long report's thumbnails, is not at 100 % (ETA 0) all the while;
    the fraction only grows."""
    from m0core.batch.runner import _Reporter
    from m0core.model import MediaInfo

    told: list[float] = []
    reporter = _Reporter(told.append)
    reporter.started(MediaInfo(path="x", duration=100.0, sample_rate=48000, channels=2))
    reporter.analysed(50.0, 1)
    reporter.clip_done(None, 1, 1)  # cut while the analysis runs: no step of its own
    reporter.analysed(100.0, 3)
    reporter.analysis_done(3, 2)  # 1 of 3 clips done, 2 still being cut
    reporter.clip_done(None, 2, 3)
    reporter.clip_done(None, 3, 3)
    for done in range(5):  # 3 thumbnails, the report's page, an EDL
        reporter.writing(done, 4)
    assert told == pytest.approx([0.35, 0.7, 0.7 + 0.25 * 2 / 3, 0.95, 0.9625, 0.975,
                                  0.9875, 1.0])
    told.clear()
    cached = _Reporter(told.append)
    cached.started(MediaInfo(path="x", duration=100.0, sample_rate=48000, channels=2))
    cached.analysis_done(2, 0)  # nothing left to cut (--no-clips, or all cut already)
    assert told == [0.95]


def test_stopping_a_job_stops_the_writing_of_its_report(vod, tmp_path):
    """m0 gui stops a job at its next progress call: the report's thumbnails of a long
    recording (17 s for 360 on 6 h) were written to their end first, as writing its outputs
    told the job nothing. The job stops at the first thumbnail and leaves no output."""
    import threading

    from m0core.batch.runner import run_job

    stop = threading.Event()
    fractions: list[float] = []

    def report(fraction: float) -> None:
        fractions.append(fraction)
        if fraction > 0.95:  # the first thumbnail is written: stop the job
            stop.set()

    out = tmp_path / "out"
    spec = {"job_id": "j", "video_path": str(vod), "output_path": str(out),
            "options": {"clips": False, "selector": "top", "max_clips": 3}}
    result = run_job(spec, report, stop)
    assert result["status"] == "interrupted", result
    assert 0.95 < fractions[-1] < 1.0, fractions
    assert not (out / "report.html").exists() and not (out / "highlights.json").exists()


def test_a_batch_stopped_before_its_first_job_starts_runs_none(wav, tmp_path):
    """m0 gui's Cancel right after Start, while the batch was still recording its jobs, let
    the first job start (a process, an attempt) and then interrupted it: a job that waits
    when the batch is stopped never starts."""
    stop = threading.Event()
    stop.set()
    ledger = tmp_path / "out" / LEDGER_FILE
    with pytest.raises(KeyboardInterrupt):
        BatchProcessor(1, ledger=ledger).process_batch(
            [BatchJob(wav, tmp_path / "out" / "a")], stop=stop)
    with Ledger(ledger) as rows:
        [row] = rows.rows()
    assert (row.status, row.attempts) == ("pending", 0)
    assert not (tmp_path / "out" / "a").exists()


def test_the_console_counts_in_the_singular_too():
    from m0core.cli.batch_console import counts_line

    assert counts_line(["completed"]) == "1 job: 1 completed"
    assert counts_line(["completed", "failed", "completed"]) == "3 jobs: 2 completed, 1 failed"


def test_a_pattern_that_matches_nothing_is_a_warning(vod, tmp_path):
    """A typo in one of several patterns is said, and the others run."""
    out = tmp_path / "out"
    run = run_m0("batch", str(vod), str(tmp_path / "nomatch" / "*.mp4"), str(out), "--no-clips",
                 "-q")
    assert run.returncode == 0, run.stderr
    assert f"Warning: {tmp_path / 'nomatch' / '*.mp4'}: matched no file" in run.stderr
    assert (out / f"{vod.stem}_highlights" / "highlights.json").is_file()


@pytest.mark.slow
def test_options_changed_back_redo_the_job(vod, tmp_path):
    """-l 10, then -l 15 into the same folders, then -l 10 again: the last run is not "done
    before" (the folder holds the -l 15 clips), it redoes the job and the folder holds 10 s
    clips again."""
    out = tmp_path / "out"
    for length, expected in (("10", "completed"), ("15", "completed"), ("10", "completed")):
        run = run_m0("batch", str(vod), str(out), "--json", "-l", length, "--no-report")
        assert run.returncode == 0, run.stderr
        [result] = json.loads(run.stdout)["jobs"]
        assert result["status"] == expected, result
        doc = json.loads((out / f"{vod.stem}_highlights" / "highlights.json").read_text())
        assert {round(h["end"] - h["start"]) for h in doc["highlights"]} == {int(length)}
    statuses = sorted(r["status"] for r in _ledger_rows(out))
    assert statuses == ["completed", "pending"]  # -l 10's row done again; -l 15's replaced
    again = run_m0("batch", str(vod), str(out), "--json", "-l", "10", "--no-report")
    assert json.loads(again.stdout)["jobs"][0]["status"] == "skipped"


def test_names_in_another_case_are_the_same_options_to_a_batch(wav, tmp_path):
    """--selector Standout -f CSV, then --selector standout -f csv: the same job, skipped as
    done, not run again under options spelt otherwise."""
    out = tmp_path / "out"
    for args, expected in ((["--selector", "Standout", "-f", "CSV"], "completed"),
                           (["--selector", "standout", "-f", "csv"], "skipped")):
        run = run_m0("batch", str(wav), str(out), "--json", "--no-clips", "--no-report", *args)
        assert run.returncode == 0, run.stderr
        [result] = json.loads(run.stdout)["jobs"]
        assert result["status"] == expected, result
    assert (out / f"{wav.stem}_highlights" / "highlights.csv").is_file()


def _job_statuses(*args: str) -> dict[str, str]:
    """``m0 batch *args --json``'s status of each job, by input file name (exit 0)."""
    run = run_m0(*args)
    assert run.returncode == 0, run.stderr
    return {Path(r["video_path"]).name: r["status"] for r in json.loads(run.stdout)["jobs"]}


def test_a_chmod_a_hard_link_or_a_copy_kept_with_its_time_reruns_no_finished_job(vod,
                                                                                tmp_path):
    """docs/batch.md: a job is redone when its input changes (size or mtime). The ledger's
    key took the inode and ctime too, so a ``chmod``, a new hard link, ``touch -a`` or a VOD
    library copied to a new disk with its times (another inode, as after a remount: another
    device) ran every finished job again. They run no job now; a file rewritten does."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    videos = _copies(vod, inputs, 2)
    args = ("batch", str(inputs / "*.mp4"), str(out), "--json", "--no-clips", "--no-report")

    assert _job_statuses(*args) == {"vod000.mp4": "completed", "vod001.mp4": "completed"}
    written = (out / "vod000_highlights" / "highlights.json").stat().st_mtime_ns
    videos[0].chmod(0o600)
    os.link(videos[1], tmp_path / "linked.mp4")
    stamp = videos[1].stat()
    os.utime(videos[1], ns=(stamp.st_atime_ns + 10**9, stamp.st_mtime_ns))  # touch -a
    shutil.copy2(videos[0], tmp_path / "copy.mp4")  # another inode, the same time
    os.replace(tmp_path / "copy.mp4", videos[0])
    assert _job_statuses(*args) == {"vod000.mp4": "skipped", "vod001.mp4": "skipped"}
    assert len(_ledger_rows(out)) == 2
    assert (out / "vod000_highlights" / "highlights.json").stat().st_mtime_ns == written
    videos[1].write_bytes(vod.read_bytes() + bytes(1000))  # another content, a new mtime
    assert _job_statuses(*args) == {"vod000.mp4": "skipped", "vod001.mp4": "completed"}


def test_a_job_whose_folder_was_deleted_runs_again(vod, tmp_path):
    """A studio deletes ``out/vod000_highlights/`` to have that VOD done again (or empties
    it): the rerun skipped it as done, leaving no folder, and said "skipped 2 of 2 jobs".
    Such a job runs again; the other stays skipped."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    _copies(vod, inputs, 2)
    args = ("batch", str(inputs / "*.mp4"), str(out), "--json", "--no-clips", "--no-report")

    assert _job_statuses(*args) == {"vod000.mp4": "completed", "vod001.mp4": "completed"}
    shutil.rmtree(out / "vod000_highlights")
    assert _job_statuses(*args) == {"vod000.mp4": "completed", "vod001.mp4": "skipped"}
    assert (out / "vod000_highlights" / "highlights.json").is_file()
    for made in (out / "vod001_highlights").iterdir():
        made.unlink()
    assert _job_statuses(*args) == {"vod000.mp4": "skipped", "vod001.mp4": "completed"}
    assert (out / "vod001_highlights" / "highlights.json").is_file()


def test_a_ledger_of_an_earlier_m0_keeps_its_finished_jobs(vod, tmp_path):
    """A ledger written when the key took the inode and ctime: its finished job is the same
    job (same path, size, time and options), skipped, not run once more after the upgrade."""
    import hashlib

    from m0core.identity import FileIdentity

    video = _copies(vod, tmp_path / "in", 1)[0]
    ledger = tmp_path / "out" / LEDGER_FILE
    identity = Identity.of(video, "h")
    old_key = hashlib.sha256(f"{identity.path}\0{FileIdentity.of(video).token()}\0h"
                             .encode()).hexdigest()[:32]
    with Ledger(ledger, lock=True) as db:
        row = db.add(identity, str(tmp_path / "x"))
        db.start(row.key)
        db.finish(row.key, {"status": "completed", "clips": 2})
    with sqlite3.connect(ledger) as db:
        db.execute("UPDATE jobs SET key = ?", (old_key,))
    with Ledger(ledger, lock=True) as db:
        again = db.add(identity, str(tmp_path / "x"))
        assert (again.key, again.status, again.clips) == (identity.key, "completed", 2)
        assert len(db.rows()) == 1


def test_a_rerun_says_the_skipped_jobs_in_one_line(vod, tmp_path):
    """A rerun over 500 VODs, 495 done earlier, printed 495 ``= … (done before)`` lines and
    495 table rows around the 5 that ran. The skipped jobs get one line (and are counted,
    not listed, in the summary); each job that runs its own; ``-v`` lists every one."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    videos = _copies(vod, inputs, 3)
    args = ("batch", str(inputs / "*.mp4"), str(out), "--no-clips", "--no-report")
    videos[2].rename(tmp_path / "later.mp4")
    assert run_m0(*args).returncode == 0
    (tmp_path / "later.mp4").rename(videos[2])
    run = run_m0(*args)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[0] == (f"= skipped 2 of 3 jobs, done earlier (same file and options); "
                        f"m0 batch --status {out} lists them"), run.stderr
    assert len(lines) == 2 and lines[1].startswith("[3/3] ✓ vod002.mp4: "), run.stderr
    assert run.stdout.strip().splitlines() == [
        "3 jobs: 1 completed, 2 skipped",
        f"Not listed: 1 completed, 2 skipped; -v lists every job, as does m0 batch --status "
        f"{out} (--json for a script)."]
    again = run_m0(*args)  # nothing runs: the line is said at the end
    assert again.stderr.strip() == (f"= skipped 3 of 3 jobs, done earlier (same file and "
                                    f"options); m0 batch --status {out} lists them")
    verbose = run_m0(*args, "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert sorted(line.split(":")[0] for line in verbose.stderr.strip().splitlines()) == [
        f"[{i}/3] = vod00{i - 1}.mp4" for i in (1, 2, 3)], verbose.stderr
    assert [line.split()[0] for line in verbose.stdout.strip().splitlines()] == [
        "status", "skipped", "skipped", "skipped", "3"], verbose.stdout


def test_cli_quiet_failure_says_where_to_read_why(video_only, tmp_path):
    out = tmp_path / "out"
    run = run_m0("batch", str(video_only), str(out), "-q")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip() == f"Error: 1 of 1 jobs failed (m0 batch --status {out} says why)"
    status = run_m0("batch", "--status", str(out))
    assert "has no audio stream" in status.stdout


def test_the_status_command_a_failure_names_can_be_typed_as_it_is(tmp_path):
    """m0 batch -q into a folder whose name holds a space ended 'Error: 1 of 1 jobs failed
    (m0 batch --status /srv/night out says why)': that command, pasted, is '--status takes
    only OUT_DIR'. The folder is quoted for a shell, as in the line for the jobs skipped."""
    (tmp_path / "empty.mp4").write_bytes(b"")
    out = tmp_path / "night out"
    run = run_m0("batch", str(tmp_path / "empty.mp4"), str(out), "-q")
    assert run.returncode == 1
    command = f"m0 batch --status {shlex.quote(str(out))}"
    assert run.stderr.strip() == f"Error: 1 of 1 jobs failed ({command} says why)", run.stderr
    status = run_m0(*shlex.split(command)[1:])
    assert status.returncode == 0 and "\n            file is empty\n" in status.stdout, \
        status.stderr


def test_cli_corrupt_file_fails_alone_then_rerun_skips(vod, tmp_path):
    inputs = tmp_path / "in"
    good = _copies(vod, inputs, 2)
    (inputs / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    out = tmp_path / "out"
    env, tag = tagged_env()
    run = run_m0("batch", str(inputs / "*.mp4"), str(out), "--workers", "2", env=env)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == "Error: 1 of 3 jobs failed"
    assert "3 jobs: 2 completed, 1 failed" in run.stdout
    rows = {Path(r["path"]).name: r for r in _ledger_rows(out)}
    assert rows["broken.mp4"]["status"] == "failed"
    assert "broken.mp4: not a media file" in rows["broken.mp4"]["error"]
    assert not (out / "broken_highlights").exists()
    outputs = []
    for path in good:
        row = rows[path.name]
        assert row["status"] == "completed" and row["clips"] == len(LOUD_AT)
        assert Path(row["out_dir"]) == (out / f"{path.stem}_highlights").resolve()
        listed = json.loads(row["outputs"])  # every file the job wrote: clips, report, …
        assert sorted(listed) == sorted(str(f) for f in Path(row["out_dir"]).rglob("*")
                                        if f.is_file())
        outputs += listed
    assert len(outputs) == 2 * (2 * len(LOUD_AT) + 3)  # + thumbnails, report.html, the JSONs
    before = _stats(outputs)
    assert not wait_gone(tag)

    again = run_m0("batch", str(inputs / "*.mp4"), str(out), "--json", "--retry-failed")
    assert again.returncode == 1
    results = {Path(r["video_path"]).name: r for r in json.loads(again.stdout)["jobs"]}
    assert results["vod000.mp4"]["status"] == results["vod001.mp4"]["status"] == "skipped"
    assert results["broken.mp4"]["status"] == "failed" and results["broken.mp4"]["attempts"] == 2
    assert _stats(outputs) == before

    status = run_m0("batch", "--status", str(out))
    assert status.returncode == 0
    assert "3 jobs: 2 completed, 1 failed" in status.stdout
    assert f"{inputs / 'broken.mp4'}\n            not a media file" in status.stdout


def test_a_name_with_a_line_break_is_said_on_one_line(tmp_path):
    """A recording whose name holds a line break (a title pasted from a chat) or a terminal's
    escape: its job's line, its row of the table and m0 analyze's error went on over two
    lines (or the escape cleared the screen). A control character is shown escaped."""
    name = tmp_path / "day 1\nfinal\x1bc.mp4"  # not there: the job fails at once
    shown = str(name).replace("\n", "\\n").replace("\x1b", "\\x1b")
    run = run_m0("batch", str(name), str(tmp_path / "out"))
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "[1/1] ✗ day 1\\nfinal\\x1bc.mp4: no such file",
        "Error: 1 of 1 jobs failed"]
    row, why = run.stdout.splitlines()[1:3]
    assert row.startswith("failed ") and row.endswith(f" s  {shown}")
    assert why == "            no such file"
    alone = run_m0("analyze", str(name), str(tmp_path / "one"))
    assert alone.stderr.splitlines() == [f"Error: {shown}: no such file"]


def test_a_file_named_like_an_option_is_said_to_be_one(tmp_path):
    """``m0 batch *.mp4 out/`` unquoted in a folder holding '-dash.mp4' (the shell expands it
    first) said only "No such option '-d'", an option nobody typed. The line says which
    argument is a file and how to name it."""
    (tmp_path / "-dash.mp4").write_bytes(b"x")
    run = run_m0("batch", "-dash.mp4", "out", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "Error: No such option '-d'. (-dash.mp4 is a file: write ./-dash.mp4, or put -- "
        "before the files) (see 'python -m m0core batch --help')"]


@pytest.mark.slow
def test_a_batch_says_which_recording_looks_cut_short(vod_ts, tmp_path):
    """m0 batch said nothing of a recording that looks cut short (a copy that stopped), where
    m0 analyze warns of it: its line was '✓ cut.ts: 4 highlights, 4 clips' alone. A warning
    line follows it, with --quiet too, and the job is completed; --json's job holds it in
    'warnings'. Below the job's line, which names the file, it does not name it again."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    cut_copy(vod_ts, inputs / "cut.ts")
    shutil.copy(vod_ts, inputs / "whole.ts")
    said = (r"looks cut short: its audio ends at 4\d\.\d s, where the file stops in the "
            r"middle of its data \(analysed up to there\)")
    named = f"Warning: {re.escape(str(inputs / 'cut.ts'))}: {said}"
    for flags in ((), ("-q",), ("--json",)):
        run = run_m0("batch", str(inputs), str(tmp_path / "-".join(["out", *flags])),
                     "--no-clips", "--no-report", "--workers", "1", *flags)
        assert run.returncode == 0, run.stderr
        lines = run.stderr.splitlines()
        warned = [line for line in lines if line.startswith("Warning:")]
        if flags:
            assert len(warned) == 1 and re.fullmatch(named, warned[0]), run.stderr
        else:
            assert len(warned) == 1 and re.fullmatch(f"Warning: {said}", warned[0]), run.stderr
            assert lines[0].startswith("[1/2] ✓ cut.ts: ") and lines[1] == warned[0], lines
    jobs = {Path(j["video_path"]).name: j for j in json.loads(run.stdout)["jobs"]}
    assert [j["status"] for j in jobs.values()] == ["completed"] * 2
    assert jobs["cut.ts"]["warnings"] == [warned[0].removeprefix("Warning: ")]
    assert jobs["whole.ts"]["warnings"] == []


def test_a_jobs_error_names_its_file_once(tmp_path):
    """A failed job's line said its file twice, '✗ empty.mp4: /vods/day 1/empty.mp4: file is
    empty', and so did the line under its row in the summary and in m0 batch --status, a row
    that ends with that path. The error is said beside the name alone ('✗ empty.mp4: file is
    empty'), of a name that is not UTF-8 too, as m0 gui says it (errors.beside_name)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "empty.mp4").write_bytes(b"")
    Path(os.fsdecode(os.fsencode(inputs) + b"/caf\xe9.mp4")).write_bytes(b"x")
    out = tmp_path / "out"
    run = run_m0("batch", str(inputs), str(out), "--workers", "1")
    assert run.returncode == 1
    said = {line.split("] ", 1)[1] for line in run.stderr.splitlines()[:2]}
    assert said == {"✗ empty.mp4: file is empty",
                    "✗ caf\ufffd.mp4: the file's name is not valid UTF-8; rename it"}, run.stderr
    assert str(inputs) not in run.stderr
    why = [line.strip() for line in run.stdout.splitlines() if line.startswith(" ")]
    assert sorted(why) == ["file is empty", "the file's name is not valid UTF-8; rename it"], \
        run.stdout
    status = run_m0("batch", "--status", str(out)).stdout
    assert [line.strip() for line in status.splitlines() if line.startswith(" ")] == [
        "file is empty"], status


def test_the_summary_lists_the_jobs_to_look_at_and_counts_the_others(wav, vod_ts, tmp_path):
    """After a studio's batch of 500 recordings the summary was a row per job, 500 of them
    after 500 job lines, the one that failed and the one cut short somewhere among them. It
    lists the jobs that failed, were interrupted or warned, each with why (its error, its
    warnings), and counts the others, saying where they are listed: as short for 3 good
    recordings as for 495; -v lists every job."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    _copies(wav, inputs, 3)
    (inputs / "empty.mp4").write_bytes(b"")
    cut_copy(vod_ts, inputs / "cut.ts")
    args = ("batch", str(inputs), str(out), "--no-clips", "--no-report", "--workers", "2")
    run = run_m0(*args)
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["status", "highlights", "clips", "time", "input"], run.stdout
    assert lines[1].startswith("completed ") and lines[1].endswith(f"  {inputs / 'cut.ts'}")
    assert re.fullmatch(r" {12}Warning: looks cut short: its audio ends at 4\d\.\d s, .*",
                        lines[2]), run.stdout
    assert lines[3].startswith("failed ") and lines[3].endswith(f"  {inputs / 'empty.mp4'}")
    assert lines[4:] == [
        "            file is empty", "5 jobs: 4 completed, 1 failed",
        f"Not listed: 3 completed; -v lists every job, as does m0 batch --status {out} (--json "
        "for a script)."], run.stdout
    again = run_m0(*args, "-v")  # nothing runs: every job is listed all the same
    rows = [line.split()[0] for line in again.stdout.splitlines()[1:-2]
            if not line.startswith(" ")]
    assert rows == ["skipped", "failed"] + ["skipped"] * 3, again.stdout
    assert again.stdout.splitlines()[-2:] == [
        "5 jobs: 1 failed earlier, 4 skipped",
        "Jobs that failed in an earlier run were not retried (--retry-failed)."], again.stdout


def test_a_file_that_is_no_recording_is_not_said_to_be_truncated(vod, tmp_path):
    """A text file saved as .mp4 (a downloader's '403 Forbidden' page) failed its job with
    'not a media file m0 can read (moov atom not found: the recording is incomplete ...)': a
    recording cut short, which it never was. That is said of a file that begins as an MP4
    does, a recording stopped before its end, by either source (ffmpeg.unreadable); the text
    file is said to be text."""
    page = tmp_path / "stream.mp4"
    page.write_text("<html><body>403 Forbidden</body></html>\n")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(vod.read_bytes()[:100_000])  # its index (moov) is at the end
    run = run_m0("batch", str(page), str(cut), str(tmp_path / "out"), "--no-clips", "--json")
    errors = {Path(j["video_path"]).name: j["error"] for j in json.loads(run.stdout)["jobs"]}
    assert errors["stream.mp4"] == (f"{page}: not a media file m0 can read (it is text, not "
                                    "audio or video: a web page or an error message saved "
                                    "under a media file's name?)")
    assert errors["cut.mp4"].endswith("(its MP4 index is missing: the recording is incomplete "
                                      "(still being recorded, or a crash, a full disk, a "
                                      "stopped download); untrunc can rebuild the index from a "
                                      "healthy recording made with the same settings)")
    run = run_m0("batch", str(page), str(cut), str(tmp_path / "out2"), "--no-clips", "--json",
                 "--source", "ffmpeg")
    errors = {Path(j["video_path"]).name: j["error"] for j in json.loads(run.stdout)["jobs"]}
    assert errors["stream.mp4"].startswith(f"{page}: not a media file ffmpeg can read (")
    assert "incomplete" not in errors["stream.mp4"] and "incomplete" in errors["cut.mp4"]


def test_a_batch_whose_patterns_match_nothing_says_so_once(tmp_path):
    """The error alone, not a warning about the same pattern before it."""
    pattern = str(tmp_path / "nomatch" / "*.mp4")
    run = run_m0("batch", pattern, str(tmp_path / "out"))
    assert run.returncode == 1
    assert run.stderr.strip() == f"Error: no input files: {pattern} matched nothing"


def test_cli_errors_are_one_line(tmp_path):
    run = run_m0("batch", "--status", str(tmp_path))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip() == f"Error: {tmp_path}: no batch has run here (no {LEDGER_FILE})"
    run = run_m0("batch", str(tmp_path / "*.mp4"), str(tmp_path / "out"))
    assert run.returncode == 1 and "matched nothing" in run.stderr
    run = run_m0("batch", str(tmp_path))
    assert run.returncode == 2 and "give at least one PATTERN" in run.stderr


def test_a_clip_over_the_file_size_limit_says_which_signal_killed_it(vod, tmp_path):
    """A limit on file sizes (``ulimit -f``, as a studio sets for a shared machine) killed
    each clip's ffmpeg with SIGXFSZ: the job's line said 'ffmpeg was killed by signal 25'.
    It names the signal and what sends it; no clip is published, and the job runs again
    once the limit is gone."""
    import resource

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))  # under a clip's size

    out = tmp_path / "out"
    args = [sys.executable, "-m", "m0core", "batch", str(vod), str(out), "--no-report", "--json"]
    run = subprocess.run(args, preexec_fn=limited, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    [job] = json.loads(run.stdout)["jobs"]
    assert job["error"] == (f"{len(LOUD_AT)} of {len(LOUD_AT)} clips failed: ffmpeg was killed "
                            "by SIGXFSZ (a file over the size limit, ulimit -f)"), job["error"]
    assert not list(out.rglob("*.mp4")) and not list(out.rglob(".partial-*"))
    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    [job] = json.loads(again.stdout)["jobs"]
    assert job["status"] == "completed" and job["clips"] == len(LOUD_AT), job


def test_cli_from_file(vod, tmp_path):
    videos = _copies(vod, tmp_path / "in", 2)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my vods\n{videos[0]}\n\n{videos[1]}\n")
    run = run_m0("batch", "--from-file", str(listing), str(tmp_path / "out"), "--no-clips",
                 "--json")
    assert run.returncode == 0, run.stderr
    assert [r["status"] for r in json.loads(run.stdout)["jobs"]] == ["completed"] * 2


def test_a_list_from_notepad_or_in_latin1_names_its_files(tmp_path):
    """``--from-file`` of a list Windows Notepad saved (UTF-8 with a byte-order mark, CRLF)
    named a first file '\\ufeffday1.mp4' ('no such file' for a file that is there, the mark
    invisible in the error line); a list in Latin-1 (``caf\\xe9.mp4``, an old tool's) was
    'unexpected UnicodeDecodeError' and no job ran. The mark is dropped, and a byte that is
    not UTF-8 stands for itself as in a file name (its job fails alone: not UTF-8, rename
    it)."""
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"\xef\xbb\xbfday1.mp4\r\n# old\r\nday 2/b.mp4\r\n")
    assert read_list(listing) == ["day1.mp4", "day 2/b.mp4"]
    listing.write_bytes(b"caf\xe9.mp4\n")
    assert read_list(listing) == [os.fsdecode(b"caf\xe9.mp4")]


def test_an_empty_list_says_so(tmp_path):
    """A nightly script's list of new recordings that came out empty (nothing new): ``m0
    batch --from-file new.txt out/`` was a usage error telling to give a PATTERN 'or
    --from-file', which it had. The list is named, as a glob that matches nothing is."""
    listing = tmp_path / "new.txt"
    listing.write_text("# recordings since yesterday\n\n")
    run = run_m0("batch", "--from-file", str(listing), str(tmp_path / "out"))
    assert run.returncode == 1
    assert run.stderr.splitlines() == [f"Error: {listing}: lists no file or pattern"]


def test_a_list_on_standard_input(wav, tmp_path):
    """``find … | m0 batch --from-file - out/`` was '-: cannot read the list (No such file or
    directory)': ``-`` is standard input, as for most tools that read a list."""
    listing = f"# new today\n{wav}\n"
    run = subprocess.run([sys.executable, "-m", "m0core", "batch", "--from-file", "-",
                          str(tmp_path / "out"), "--no-clips", "--json"], input=listing,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    [job] = json.loads(run.stdout)["jobs"]
    assert job["status"] == "completed" and Path(job["video_path"]) == wav
    run = subprocess.run([sys.executable, "-m", "m0core", "batch", "--from-file", "-",
                          str(tmp_path / "out")], input="\n", capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1
    assert run.stderr.splitlines() == ["Error: standard input: lists no file or pattern"]


@pytest.mark.slow
def test_sigkill_half_way_shows_interrupted_then_a_rerun_completes_only_the_missing(vod,
                                                                                  tmp_path):
    """After a SIGKILL of ``m0 batch`` (or a second Ctrl-C, a crash), ``m0 batch --status``
    said its jobs were ``running`` (``3 jobs: 1 running, 2 pending``) with no batch left
    to run them, while ``m0 gui`` showed the same rows ``interrupted``, what the next run
    makes of them. A live batch's running job is still ``running``. The next run skips the
    jobs done and does the rest, and no clip of the killed run is left half-written."""
    inputs = tmp_path / "in"
    _copies(vod, inputs, 4)
    out = tmp_path / "out"
    env, tag = tagged_env()
    args = ("batch", str(inputs), str(out), "--workers", "1", "--cut", "accurate", "-q")
    proc = m0_popen(*args, env=env)
    try:
        wait_for(lambda: _statuses(out).count("completed") >= 1
                  and "running" in _statuses(out), what="one job done, one running")
        live = run_m0("batch", "--status", str(out), "--json")
        assert "running" in [r["status"] for r in json.loads(live.stdout)], live.stdout
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    left = wait_gone(tag)
    assert not left, [p.cmdline() for p in left]
    rows = _ledger_rows(out)
    done = [r for r in rows if r["status"] == "completed"]
    assert "running" in [r["status"] for r in rows] and 1 <= len(done) < 4
    kept = _stats([p for r in done for p in json.loads(r["outputs"])])
    assert not list(out.rglob(".partial-*"))
    shown = run_m0("batch", "--status", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    statuses = [r["status"] for r in json.loads(shown.stdout)]
    assert "running" not in statuses and "interrupted" in statuses, statuses
    table = run_m0("batch", "--status", str(out)).stdout
    assert " running" not in table and "1 interrupted" in table.splitlines()[-1], table

    again = run_m0("batch", *args[1:-1], "--json", env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    results = json.loads(again.stdout)["jobs"]
    skipped = {r["video_path"] for r in results if r["status"] == "skipped"}
    assert skipped == {r["path"] for r in done}
    assert all(r["status"] == "completed" for r in results if r["video_path"] not in skipped)
    assert _stats(list(kept)) == kept
    rows = _ledger_rows(out)
    assert [r["status"] for r in rows] == ["completed"] * 4
    assert max(r["attempts"] for r in rows) == 2 and not wait_gone(tag)


def test_a_ctrl_c_as_a_jobs_process_starts_stops_that_process_too(tmp_path, monkeypatch):
    """A Ctrl-C that comes the moment a job's process has started, before the executor holds
    it: the process is stopped with the batch, not left to run its job alone."""
    from m0core.batch import executors

    (tmp_path / "sleeper.py").write_text("import time\n\n\n"
                                         "def job(spec, report=None, stop=None):\n"
                                         "    time.sleep(60)\n"
                                         "    return {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the job's process imports it too
    from sleeper import job

    started: list[subprocess.Popen] = []
    popen = subprocess.Popen

    def ctrl_c_as_it_starts(*args, **kwargs):
        started.append(popen(*args, **kwargs))
        signal.raise_signal(signal.SIGINT)
        return started[-1]

    events = []
    monkeypatch.setattr(executors.subprocess, "Popen", ctrl_c_as_it_starts)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            executors.ProcessExecutor(1).map(job, [{"job_id": "a"}],
                                              lambda *event: events.append(event))
    finally:
        signal.signal(signal.SIGINT, before)
        monkeypatch.undo()
        left = [proc for proc in started if proc.poll() is None]
        for proc in left:
            proc.kill()
            proc.wait()
    assert len(started) == 1 and not left, "the job's process was left running its job"
    assert events == [("lost", "a", ("interrupted", "the batch was stopped", False))]


def test_sigterm_stops_jobs_and_marks_them_interrupted(vod, tmp_path):
    inputs = tmp_path / "in"
    _copies(vod, inputs, 3)
    out = tmp_path / "out"
    env, tag = tagged_env()
    proc = m0_popen("batch", str(inputs), str(out), "--workers", "2", "--cut", "accurate",
                     env=env)
    try:
        wait_for(lambda: "running" in _statuses(out), what="a running job")
        time.sleep(0.5)  # let it reach its ffmpeg processes
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    assert took < 15
    assert not wait_gone(tag, timeout=5)
    statuses = _statuses(out)
    assert "interrupted" in statuses and "running" not in statuses
    assert not list(out.rglob(".partial-*")) and not list(out.rglob(".*.tmp"))
    for row in _ledger_rows(out):
        if row["status"] == "interrupted":
            assert not list(Path(row["out_dir"]).glob("*.mp4"))


CRASHY = '''
import os, signal
import numpy as np
from m0core import hookimpl

class Crashy:
    """rms-like analyzer whose first job (whichever makes the marker) dies of SIGKILL."""
    hop = 0.1
    def __init__(self):
        self.sent = 0
    def feed(self, chunk):
        try:
            os.close(os.open(os.environ["CRASH_MARKER"], os.O_CREAT | os.O_EXCL))
            os.kill(os.getpid(), signal.SIGKILL)
        except FileExistsError:
            pass
        n = int(chunk.duration / self.hop)
        return np.full(n, -40.0, dtype=np.float32)
    def finish(self):
        return np.zeros(0, dtype=np.float32)

@hookimpl
def m0_register_analyzers(register):
    register("crashy", Crashy)
'''


def test_a_job_whose_process_dies_fails_alone(vod, tmp_path, fake_dist):
    """A job whose process is killed (the out-of-memory killer) fails alone, saying so; its
    result said it never started and took no time ('-' in the table), however long it ran.
    It has when it started and how long it ran."""
    env = fake_dist("m0-crashy", CRASHY)
    env["CRASH_MARKER"] = str(tmp_path / "crashed")
    inputs = tmp_path / "in"
    _copies(vod, inputs, 3)
    out = tmp_path / "out"
    run = run_m0("batch", str(inputs), str(out), "--workers", "2", "--analyzer", "crashy",
                 "--json", env=env)
    assert run.returncode == 1, run.stderr
    results = json.loads(run.stdout)["jobs"]
    failed = [r for r in results if r["status"] == "failed"]
    assert len(failed) == 1 and (tmp_path / "crashed").exists()
    assert failed[0]["error"] == "the job's process was killed by SIGKILL (out of memory?)"
    # when it started and how long it ran (a job killed after an hour took no time)
    assert failed[0]["started"] <= failed[0]["finished"] - failed[0]["seconds"] + 0.01
    assert failed[0]["seconds"] > 0
    assert [r["status"] for r in results].count("completed") == 2


def test_a_job_stopped_from_outside_the_batch_is_no_success(vod, wav, tmp_path, fake_dist):
    """A job's process sent SIGTERM by someone else (a runaway job killed with ``kill``): its
    line said 'the batch was stopped', which went on, and ended with exit code 0 with the
    job undone ('2 jobs: 1 completed, 1 interrupted'), so a script went on as if all were
    done. The line says what stopped it, and the batch ends with an error line and exit
    code 1 (the same command runs the job again, as any interrupted job)."""
    env = fake_dist("m0-crashy", CRASHY.replace("SIGKILL", "SIGTERM"))
    env["CRASH_MARKER"] = str(tmp_path / "crashed")
    out = tmp_path / "out"
    run = run_m0("batch", str(vod), str(wav), str(out), "--workers", "1", "--jobs", "0",
                 "--analyzer", "crashy", "--no-clips", "--no-report", env=env)
    assert (tmp_path / "crashed").exists()
    assert run.returncode == 1, run.stderr
    assert "2 jobs: 1 completed, 1 interrupted" in run.stdout
    assert "the job's process was sent SIGTERM, not by the batch" in run.stderr
    assert run.stderr.strip().splitlines()[-1] == \
        "Error: 1 of 2 jobs interrupted; run the same command again to finish them"


WHERE = '''
import os
import numpy as np
from m0core import hookimpl

class Where:
    """rms-like analyzer that writes the pid of the process it runs in to WHERE_FILE."""
    hop = 0.1
    def feed(self, chunk):
        with open(os.environ["WHERE_FILE"], "w") as fh:
            fh.write(str(os.getpid()))
        return np.full(int(chunk.duration / self.hop), -40.0, dtype=np.float32)

@hookimpl
def m0_register_analyzers(register):
    register("where", Where)
'''


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: every job decodes in its "
                    "own process")
def test_fewer_jobs_than_workers_share_all_the_cores(wav, tmp_path, fake_dist):
    """One recording (or a resumed batch's last few) with --workers at the core count (the
    default): the job was given one core (cores ÷ --workers), so it decoded in its own
    process, cut its clips one at a time and left the other cores idle. The jobs that run
    share the cores between them: this one decodes in a worker process, as ``m0 analyze``
    does."""
    env = fake_dist("m0-where", WHERE)
    env["WHERE_FILE"] = str(tmp_path / "pid")
    run = run_m0("batch", str(wav), str(tmp_path / "out"), "--workers", str(os.cpu_count()),
                 "--analyzer", "where", "--no-clips", "--no-report", "--json", env=env)
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)["jobs"][0]
    assert job["status"] == "completed"
    assert (tmp_path / "pid").read_text() != job["worker"].rpartition(":")[2]


def test_disabled_plugins_stay_disabled_in_the_jobs(vod, tmp_path, fake_dist):
    env = fake_dist("m0-crashy", CRASHY)
    env["CRASH_MARKER"] = str(tmp_path / "crashed")
    run = run_m0("--disable-plugin", "m0-crashy", "batch", str(vod), str(tmp_path / "out"),
                 "--analyzer", "crashy", "--json", env=env)
    assert run.returncode == 1  # before any job runs
    assert run.stdout == "" and 'unknown analyzer "crashy"' in run.stderr
    assert not (tmp_path / "crashed").exists()
    run = run_m0("--disable-plugin", "m0-crashy", "batch", str(vod), str(tmp_path / "out"),
                 "--no-clips", "--json", env=env)  # the jobs do not load it either
    assert run.returncode == 0, run.stderr
    [result] = json.loads(run.stdout)["jobs"]
    assert result["status"] == "completed"
    assert not (tmp_path / "crashed").exists()


# -- Dask -------------------------------------------------------------------------------------

def test_dask_local_cluster_runs_the_same_jobs(vod, tmp_path):
    """A local cluster runs the batch's jobs as the default executor does, and leaves nothing
    of itself in the temporary folder (Dask's own dask-scratch-space, whose lock files outlive
    it, was left there); the folder a batch killed outright (SIGKILL) left there goes."""
    inputs = tmp_path / "in"
    _copies(vod, inputs, 3)
    (inputs / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    temp = tmp_path / "temp"
    ended = ended_pid()
    killed = temp / f".partial-{ended}-k2j3h4g5-dask" / "dask-scratch-space"
    killed.mkdir(parents=True)
    (killed / "worker-0.dirlock").write_bytes(b"")
    env, tag = tagged_env(dict(os.environ, TMPDIR=str(temp)))
    run = run_m0("batch", str(inputs), str(out), "--executor", "dask", "--workers", "2",
                 "--json", env=env, timeout=300)
    assert run.returncode == 1, run.stderr
    results = {Path(r["video_path"]).name: r for r in json.loads(run.stdout)["jobs"]}
    assert "broken.mp4: not a media file" in results.pop("broken.mp4")["error"]
    assert all(r["status"] == "completed" and r["clips"] == len(LOUD_AT)
               for r in results.values())
    pids = {r["worker"].rsplit(":", 1)[1] for r in results.values()}
    assert len(pids) == 2  # both worker processes of the cluster took jobs
    assert sorted(r["status"] for r in _ledger_rows(out)) == ["completed"] * 3 + ["failed"]
    assert not wait_gone(tag)
    assert not list(temp.iterdir())


def test_a_local_cluster_beside_another_says_nothing_of_dask_ports(wav, tmp_path):
    """A second batch on a local cluster at once (into another OUT_DIR), or a Dask dashboard
    already on the machine: Dask's scheduler took port 8787 for its HTTP server, found it
    taken and printed its own warning ('UserWarning: Port 8787 is already in use. Perhaps
    you already have a cluster running? …', four lines and a path) among m0's."""
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 8787))
        taken.listen()
    except OSError:  # in use already: the same for the batch
        pass
    try:
        run = run_m0("batch", str(wav), str(tmp_path / "out"), "--executor", "dask",
                     "--workers", "1", "--no-clips", "-q", timeout=300)
    finally:
        taken.close()
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr


def test_a_job_that_kills_its_workers_says_so_in_m0s_line_only(vod, tmp_path, fake_dist):
    """A job that kills the local cluster's workers it runs on (a plugin's crash, out of
    memory): Dask's scheduler logged its own line too ('… - distributed.scheduler - ERROR -
    Task m0-… marked as failed because 1 workers died while trying to run it') among m0's.
    m0 says it once, in the job's line; the job fails for itself, as a job process killed."""
    env = fake_dist("m0-boom", "import os, signal\n"
                               "from m0core import hookimpl\n"
                               "from m0_plugins.rms.streaming import RmsStreaming\n"
                               "class Boom(RmsStreaming):\n"
                               "    def feed(self, chunk):\n"
                               "        os.kill(os.getpid(), signal.SIGKILL)\n"
                               "@hookimpl\n"
                               "def m0_register_analyzers(register):\n"
                               "    register('boom', Boom)\n")
    env, tag = tagged_env(env)
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"  # the first death is the last
    run = run_m0("batch", str(vod), str(tmp_path / "out"), "--executor", "dask", "--workers",
                 "1", "--jobs", "0", "--analyzer", "boom", "--no-clips", "-q", env=env)
    assert run.returncode == 1, run.stderr
    assert run.stderr.startswith("Error: 1 of 1 jobs failed"), run.stderr
    assert len(run.stderr.splitlines()) == 1, run.stderr
    [row] = _ledger_rows(tmp_path / "out")
    assert row["error"].startswith("dask: KilledWorker: ") and not row["retry"], row
    assert not wait_gone(tag)


def test_dask_worker_names_the_reason_of_every_bad_file_it_runs(vod, tmp_path):
    """A Dask worker runs many jobs in one process: FFmpeg's reason ("moov atom not found",
    said 'its MP4 index is missing') is in every bad file's error line, not only the first
    one's (PyAV drops a log line identical to the one before it)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    half = vod.read_bytes()[: vod.stat().st_size // 2]  # its index (moov) is at the end
    for name in ("cut1.mp4", "cut2.mp4", "cut3.mp4"):
        (inputs / name).write_bytes(half)
    env, tag = tagged_env()
    run = run_m0("batch", str(inputs), str(tmp_path / "out"), "--executor", "dask",
                 "--workers", "1", "--json", env=env, timeout=300)
    assert run.returncode == 1, run.stderr
    errors = [r["error"] for r in json.loads(run.stdout)["jobs"]]
    assert len(errors) == 3 and all("its MP4 index is missing" in e for e in errors), errors
    assert not wait_gone(tag)


@DASK_FAULT
def test_dask_batch_stopped_says_one_thing(vod, tmp_path):
    """SIGTERM (as Ctrl-C) while a local cluster cuts clips: m0's own lines only (no Dask
    log lines about cancelled tasks or killed workers), exit 130, nothing left running."""
    inputs = tmp_path / "in"
    _copies(vod, inputs, 6)
    out = tmp_path / "out"
    env, tag = tagged_env()
    proc = m0_popen("batch", str(inputs), str(out), "--executor", "dask", "--workers", "2",
                    "--cut", "accurate", "--no-cache", env=env)
    wait_for(lambda: cutting_clips(out), 120, "clips being cut")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "distributed." not in stderr and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "Error: interrupted"
    assert not wait_gone(tag, 10)


@DASK_FAULT
def test_ctrl_c_of_a_dask_batch_leaves_the_local_workers_to_stop_their_jobs(vod, tmp_path):
    """Ctrl-C on a terminal reaches every process of the foreground group: the workers of the
    local cluster ``m0 batch --executor dask`` started died of it, printing Dask's tracebacks
    (``Process Dask Worker process (from Nanny): Traceback … KeyboardInterrupt``), their jobs
    could not say they had stopped and the batch waited its whole 10 s grace for them (0.6 s
    when only the batch got the signal). The batch stops its jobs itself, as it does its own
    job processes."""
    inputs = tmp_path / "in"
    _copies(vod, inputs, 6)
    out = tmp_path / "out"
    env, tag = tagged_env()
    proc = subprocess.Popen(  # SIGINT as a terminal leaves it, whatever started the tests
        [sys.executable, "-m", "m0core", "batch", str(inputs), str(out), "--executor", "dask",
         "--workers", "2", "--cut", "accurate", "--no-cache"], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(lambda: cutting_clips(out), 120, "clips being cut")
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole group
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "Error: interrupted"
    statuses = _statuses(out)
    assert "interrupted" in statuses and "running" not in statuses, statuses
    assert not wait_gone(tag, 10)


#: Runs the command after it (``sh -c HIDE FOLDER COMMAND...``) where FOLDER is empty, as on
#: a machine that has not mounted the share it is on (in a mount namespace of its own).
HIDE = 'mount -t tmpfs m0-test "$0" && exec "$@"'


def _can_hide() -> bool:
    """Whether this machine lets a test start a process with a folder hidden (root)."""
    try:
        return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", HIDE,
                               "/mnt", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


@contextlib.contextmanager
def _cluster(folder: Path, env: dict[str, str],
             hide: Path | None = None) -> Iterator[SimpleNamespace]:
    """A scheduler and one single-threaded worker on 127.0.0.1, started with the ``dask`` CLI
    in ``folder`` under ``env`` (with ``folder`` as their temporary folder), as docs/batch.md
    has a studio start them; yields a client to it, the scheduler's process and that
    environment. The worker does not see what is in ``hide``. Both are stopped at the end."""
    from distributed import Client

    info = folder / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    env = dict(env, TMPDIR=str(folder))  # their dask-scratch-space there, not in /tmp
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(info)], cwd=folder,
                              env=env, start_new_session=True, stderr=subprocess.DEVNULL)]
    try:
        wait_for(info.is_file, 60, "the scheduler")
        hiding = [] if hide is None else ["unshare", "-m", "--propagation", "private", "sh",
                                          "-c", HIDE, str(hide)]
        procs.append(subprocess.Popen([*hiding, *dask, "worker", "--scheduler-file", str(info),
                                       "--host", "127.0.0.1", "--nworkers", "1", "--nthreads",
                                       "1", "--no-dashboard"], cwd=folder,
                                      env=env, start_new_session=True,
                                      stderr=subprocess.DEVNULL))
        with Client(scheduler_file=str(info), timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
            yield SimpleNamespace(client=client, scheduler=procs[0], worker=procs[1], info=info,
                                  env=env)
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process of a test's cluster, started in a session of its own: SIGTERM, then its
    group killed if it has not ended within 30 s (a Dask worker closing gracefully on a busy
    machine can take that long)."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@contextlib.contextmanager
def _tagged_cluster(folder: Path, hide: Path | None = None) -> Iterator[SimpleNamespace]:
    """A running cluster (:func:`_cluster`) in ``folder`` under an environment of its own tag,
    whose workers import this folder's modules (``procs.running_tasks``) and do not see
    ``hide``, with an analysis cache of its own (the jobs on it use the workers'). Yields a
    client to it, the environment, its tag, the scheduler's process and the pids of its own
    processes; once it is stopped, nothing under its tag is left running."""
    env, tag = tagged_env()
    env["M0_CACHE_DIR"] = str(folder / "cache")
    tests = str(Path(__file__).parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tests, env.get("PYTHONPATH")]))
    try:
        with _cluster(folder, env, hide) as cluster:
            yield SimpleNamespace(client=cluster.client, env=env, tag=tag,
                                  scheduler=cluster.scheduler,
                                  own={p.pid for p in ours(tag)})  # scheduler's, worker's
    finally:
        assert not wait_gone(tag, 30)


@contextlib.contextmanager
def _one_test_on(cluster: SimpleNamespace) -> Iterator[SimpleNamespace]:
    """A cluster (:func:`_tagged_cluster`) that tests share, for one test: a client to it,
    the environment (tagged for this test) to run m0 in and the scheduler's process. After
    the test no m0 process of it is left, and nothing its jobs started on the cluster
    (ffmpeg) is left running there."""
    env, tag = tagged_env(cluster.env)
    yield SimpleNamespace(client=cluster.client, env=env, scheduler=cluster.scheduler)
    assert not wait_gone(tag, 30)
    deadline = time.monotonic() + 30
    while (left := [p for p in ours(cluster.tag) if p.pid not in cluster.own]) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, [p.cmdline() for p in left]


@pytest.fixture
def own_dask_cluster(tmp_path) -> Iterator[SimpleNamespace]:
    """A cluster (:func:`_tagged_cluster`) for one test, which may kill it."""
    folder = tmp_path / "cluster"  # not where a test writes modules it imports
    folder.mkdir()
    with _tagged_cluster(folder) as cluster:
        yield cluster


#: A ``sitecustomize`` for a Python that lacks m0, however it is installed.
WITHOUT_M0 = """import sys
class NoM0:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("m0core", "m0_plugins"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoM0())
"""


@DASK_FAULT
def test_jobs_a_cluster_could_not_run_run_again_once_it_can(vod, tmp_path):
    """A cluster whose Python lacks m0 (not installed on the workers yet) fails each job
    (``dask: RuntimeError: Error during deserialization …``): the cluster's doing, not the
    file's. The same command once m0 is there said ``failed in an earlier run`` and ran
    nothing but with --retry-failed; it runs them, as it does the jobs that failed for the
    machine."""
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "sitecustomize.py").write_text(WITHOUT_M0)
    env, tag = tagged_env()
    env["PYTHONPATH"] = str(bare)
    out = tmp_path / "out"
    args = ("batch", str(vod), str(out), "--no-clips", "--json")
    with _cluster(bare, env) as cluster:
        first = run_m0(*args, "--executor", "dask", "--scheduler",
                       cluster.client.scheduler.address)
    assert not wait_gone(tag, 30)
    assert first.returncode == 1, first.stderr
    [job] = json.loads(first.stdout)["jobs"]
    assert job["status"] == "failed" and job["error"].startswith("dask: "), job
    again = run_m0(*args)  # the machine as it should be (here: local processes)
    [job] = json.loads(again.stdout)["jobs"]
    assert job["status"] == "completed" and job["highlights"] == len(LOUD_AT), job


def test_a_batch_whose_scheduler_dies_ends_with_one_line(vod, tmp_path, own_dask_cluster):
    """The scheduler of a running cluster dies mid-batch: the batch ends (it hung, its later
    jobs waiting on a closed client) with one line saying so, and its running job is
    interrupted (redone by the next run), not failed (skipped by it)."""
    out = tmp_path / "out"
    inputs = tmp_path / "in"
    _copies(vod, inputs, 3)
    proc = m0_popen("batch", str(inputs), str(out), "--executor", "dask", "--scheduler",
                    own_dask_cluster.client.scheduler.address, "--cut", "accurate",
                    "--no-cache", env=own_dask_cluster.env)
    try:
        wait_for(lambda: cutting_clips(out), 120, "clips being cut")
        own_dask_cluster.scheduler.kill()
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1].startswith("Error: lost the Dask scheduler at "), stderr
    assert "distributed." not in stderr and "Traceback" not in stderr, stderr
    assert sorted(_statuses(out)) == ["interrupted", "pending", "pending"]


@DASK_FAULT
def test_a_scheduler_address_that_takes_the_connection_and_never_answers_is_one_line(
        vod, tmp_path):
    """--scheduler tcp://host:8787, the dashboard's port (docs/batch.md names both), or any
    server that takes a connection and says nothing: Dask's client waited for its answer
    for ever, 'm0 batch' with it, without a word. It waits as long as for a scheduler that
    is not there (executors.CONNECT_TIMEOUT; 2 s here) and says so in one line."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # the kernel takes connections; nobody answers
    address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
    script = ("import sys; from m0core.batch import executors; executors.CONNECT_TIMEOUT = 2; "
              "from m0core.cli.main import main; sys.argv[0] = 'm0'; main()")
    try:
        run = subprocess.run([sys.executable, "-c", script, "batch", str(vod),
                              str(tmp_path / "out"), "--no-clips", "--executor", "dask",
                              "--scheduler", address], capture_output=True, text=True,
                             timeout=30)
    finally:
        silent.close()
    assert run.returncode == 1, run.stderr
    assert run.stderr == (f"Error: cannot reach the Dask scheduler at {address} (it took the "
                          "connection but gave no answer: the dashboard's port?)\n")


def test_a_batch_stopped_while_it_waits_for_its_scheduler_stops_at_once(vod, tmp_path):
    """Ctrl-C (SIGTERM here) while the batch waits for a scheduler that does not answer
    stops it at once, not when the wait for it ends."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    silent.settimeout(60)
    env, tag = tagged_env()
    proc = m0_popen("batch", str(vod), str(tmp_path / "out"), "--no-clips", "--executor",
                    "dask", "--scheduler", f"tcp://127.0.0.1:{silent.getsockname()[1]}",
                    env=env)
    taken = None
    try:
        # it is waiting for the answer (a connection closed here would end its wait at once)
        taken = silent.accept()[0]
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
    finally:
        if taken is not None:
            taken.close()
        silent.close()
        proc.kill()
    assert time.monotonic() - started < 5, stderr
    assert proc.returncode == 130 and stderr.strip().endswith("Error: interrupted"), stderr
    assert not wait_gone(tag)


def test_a_stop_that_reaches_the_scheduler_look_s_thread_still_stops_the_wait():
    """The kernel hands a process's signal to any of its threads. One that reached the thread
    looking for the scheduler's answer, not the main one, left the main thread's wait for that
    thread unwoken: the stop came only when the look ended, 31 s later (seen once in a run of
    the suite, as the test above failing). Here SIGTERM goes to that thread on purpose."""
    import subprocess
    import sys

    code = (
        "import signal, socket, threading, time\n"
        "from m0core.batch import executors\n"
        "silent = socket.socket()\n"
        "silent.bind(('127.0.0.1', 0))\n"
        "silent.listen()\n"
        "def stop(signum, frame):\n"
        "    raise KeyboardInterrupt\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "taken = []  # held open: a connection closed would end the look at once\n"
        "def to_the_look():\n"
        "    taken.append(silent.accept())  # the look has connected: its thread runs\n"
        "    look = [t for t in threading.enumerate() if t.name == 'm0-dask-connect'][0]\n"
        "    signal.pthread_kill(look.ident, signal.SIGTERM)\n"
        "threading.Thread(target=to_the_look, daemon=True).start()\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    executors._answers(f'tcp://127.0.0.1:{silent.getsockname()[1]}')\n"
        "except KeyboardInterrupt:\n"
        "    print(time.monotonic() - started)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the look ended without the stop"
    assert float(done.stdout) < 5, done.stdout


def test_scheduler_needs_dask_executor_and_a_reachable_scheduler(tmp_path, vod):
    run = run_m0("batch", str(vod), str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1")
    assert run.returncode == 1 and "--scheduler needs --executor dask" in run.stderr


def test_an_empty_scheduler_address_is_an_error_not_a_local_cluster(tmp_path, vod):
    """``m0 batch vods/ out/ --executor dask --scheduler "$SCHED"`` with SCHED unset started a
    local cluster and ran every job on this machine instead of the studio's; a scheduler that
    is no string was dask's ``TypeError`` from ``BatchProcessor``."""
    out = tmp_path / "o"
    run = run_m0("batch", str(vod), str(out), "--executor", "dask", "--scheduler", "")
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "Error: --scheduler is empty (an unset variable?): give one such as tcp://host:8786, "
        "or leave it out for a local cluster"]
    assert not out.exists()
    with pytest.raises(OptionError, match="^--scheduler must be an address, not 5: "):
        BatchProcessor(executor="dask", scheduler=5)


@pytest.mark.parametrize("flags", [("-q", "-v"), ("--json", "-v")])
def test_verbose_with_quiet_or_json_is_refused_as_analyze_refuses_it(tmp_path, wav, flags):
    """m0 batch vods/ out -q -v ran, its -v doing nothing (no job lines, no summary to list
    every job in), where m0 analyze -q -v is an error naming both, as docs/batch.md says of an
    option that does nothing beside the others."""
    out = tmp_path / "out"
    run = run_m0("batch", str(wav), str(out), *flags)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"Error: -v does nothing with {flags[0]} (no summary is printed): drop one"]
    assert not out.exists()


@pytest.mark.parametrize("args, expected", [
    # named as the Python API names them: 'workers must be …', 'job_timeout must be …'
    (["--workers", "0"], "Error: --workers must be at least 1, not 0"),
    (["--job-timeout", "nan"], "Error: --job-timeout must be a finite number, not nan"),
    (["--selector", "nope"], 'unknown selector "nope"'),
    (["--analyzer", "rms-streaming+nope"], 'unknown analyzer "nope"'),
    # each job used to fail with it, one by one
    (["-P", "selector.margn_db=8"], 'selector "standout" does not take the option "margn_db": '
                                    'did you mean "margin_db"?'),
    (["-P", "source.gian=2"], 'source "pyav" does not take the option "gian"'),
    (["--analyzer", "loudness+onset", "-P", "analyzer.window=3"],
     'analyzer "loudness+onset": a combined analyzer takes no parameters (got window)'),
    (["--executor", "dask", "--scheduler", "garbage"],
     "cannot reach the Dask scheduler at garbage"),
])
def test_bad_batch_options_fail_before_any_job(tmp_path, vod, args, expected):
    """One clear line and no job run (the Dask scheduler's address is tried first)."""
    out = tmp_path / "o"
    run = run_m0("batch", str(vod), str(out), "--no-clips", *args)
    assert run.returncode == 1, run.stderr
    assert expected in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not any(p.is_dir() for p in out.glob("*")), list(out.glob("*"))


# -- the seed's 100+ videos -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("executor", ["process", "dask"])
def test_hundred_videos(make_media, tmp_path, executor):
    short = make_media(
        "short.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=8",
        "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.02:duration=8",
        "-f", "lavfi", "-i", "anoisesrc=color=white:amplitude=0.6:duration=1",
        "-filter_complex", "[2]adelay=4000[b];[1][b]amix=inputs=2:normalize=0",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
    )
    inputs = tmp_path / "in"
    _copies(short, inputs, 100)
    out = tmp_path / "out"
    env, tag = tagged_env()
    started = time.monotonic()
    run = run_m0("batch", str(inputs), str(out), "--executor", executor, "--workers", "2",
                 "-l", "4", "-q", env=env, timeout=900)
    took = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    rows = _ledger_rows(out)
    assert len(rows) == 100 and {r["status"] for r in rows} == {"completed"}
    assert all(r["clips"] >= 1 for r in rows)
    assert not wait_gone(tag)
    print(f"100 videos, {executor}: {took:.1f} s")


def test_a_sub_folder_given_to_jobs_that_shared_a_folder_cannot_be_another_jobs(vod, tmp_path):
    other = tmp_path / "other.mp4"
    shutil.copy(vod, other)
    out = tmp_path / "out"
    jobs = [BatchJob(str(vod), str(out)), BatchJob(str(other), str(out)),
            BatchJob(str(vod), str(out / f"{vod.stem}_highlights"), job_id="third", max_clips=1)]
    with pytest.raises(OptionError, match="the output folder of two jobs"):
        BatchProcessor().process_batch(jobs)
    assert not out.exists()


def test_a_moved_out_dir_keeps_its_jobs_in_it(wav, tmp_path):
    """OUT_DIR moved or renamed with its ledger (to an archive disk; a NAS mounted at
    another path): a rerun wrote each job it redid into the old OUT_DIR's folder,
    recreating it where the user no longer looks. The jobs' folders are OUT_DIR's, wherever
    it is now, and those done there stay done."""
    inputs = _copies(wav, tmp_path / "in", 2)
    old, new = tmp_path / "out", tmp_path / "archive"
    args = ("--no-clips", "--no-report", "--json")
    assert run_m0("batch", str(tmp_path / "in"), str(old), *args).returncode == 0
    old.rename(new)
    os.utime(inputs[0])  # rewritten since: to be done again
    run = run_m0("batch", str(tmp_path / "in"), str(new), *args)
    assert run.returncode == 0, run.stderr
    jobs = json.loads(run.stdout)["jobs"]
    assert [j["status"] for j in jobs] == ["completed", "skipped"]
    assert [Path(j["output_path"]) for j in jobs] == [new / "vod000_highlights",
                                                      new / "vod001_highlights"]
    assert not old.exists()


def test_a_done_job_asked_into_another_folder_runs_there(vod, tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    first = BatchProcessor(ledger=ledger).process_batch([BatchJob(str(vod), str(tmp_path / "a"))])
    assert first[str(vod)]["status"] == "completed"
    again = BatchProcessor(ledger=ledger).process_batch([BatchJob(str(vod), str(tmp_path / "b"))])
    result = again[str(vod)]
    assert result["status"] == "completed" and result["output_path"] == str(tmp_path / "b")
    assert len(list((tmp_path / "b").glob("*.mp4"))) == len(LOUD_AT)
    same = BatchProcessor(ledger=ledger).process_batch([BatchJob(str(vod), str(tmp_path / "b"))])
    assert same[str(vod)]["status"] == "skipped"
    assert same[str(vod)]["worker"] is None  # no process ran it this time (not this one)


@pytest.mark.slow
def test_status_shows_each_inputs_latest_job_and_counts_the_earlier_ones(vod, tmp_path):
    """A folder batched twice with other options: two inputs, not four rows (the first run's
    jobs, turned pending when the second replaced their outputs, are counted, not listed)."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    videos = _copies(vod, inputs, 2)
    for length in ("10", "15"):
        run = run_m0("batch", str(inputs), str(out), "-l", length, "--no-clips", "--no-report",
                     "-q")
        assert run.returncode == 0, run.stderr
    latest = {r["path"]: r["options_hash"] for r in _ledger_rows(out)
              if r["started"] == max(s["started"] for s in _ledger_rows(out)
                                     if s["path"] == r["path"])}
    status = run_m0("batch", "--status", str(out))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.strip().splitlines()
    assert len(lines) == 1 + 2 + 1, status.stdout  # the header, one per input, the counts
    for line, video in zip(lines[1:3], videos, strict=True):
        assert line.startswith("completed ") and line.endswith(f"{video}  (+1 earlier job)")
    assert lines[-1] == ("2 jobs: 2 completed (and 2 earlier jobs of other options or file "
                         "versions, not shown)")
    shown = json.loads(run_m0("batch", "--status", str(out), "--json").stdout)
    assert {r["path"]: (r["options_hash"], r["status"], r["earlier"]) for r in shown} == {
        path: (key, "completed", 1) for path, key in latest.items()}


@pytest.mark.slow
def test_status_says_what_a_job_warned_of(vod_ts, tmp_path):
    """A cron batch (-q) warned 'Warning: …/cut.ts: looks cut short: …' as it ran, and that
    was all: m0 batch --status, where the morning's reader is sent, showed the job completed as
    a whole recording's, and --status --json had no word of it. The ledger keeps each job's
    warnings: --status says them below its row, as the summary does, --status --json gives
    'warnings'; a ledger of an earlier m0 (no warnings) still reads and takes them."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    cut_copy(vod_ts, inputs / "cut.ts")
    args = ("batch", str(inputs), str(out), "--no-clips", "--no-report", "-q")
    assert run_m0(*args).returncode == 0
    lines = run_m0("batch", "--status", str(out)).stdout.splitlines()
    assert lines[1].startswith("completed ") and re.fullmatch(
        r" {12}Warning: looks cut short: its audio ends at 4\d\.\d s, .*", lines[2]), lines
    [row] = json.loads(run_m0("batch", "--status", str(out), "--json").stdout)
    assert [w.split(": looks cut short: ")[0] for w in row["warnings"]] == [
        str(inputs / "cut.ts")], row
    with contextlib.closing(sqlite3.connect(out / LEDGER_FILE)) as db:
        db.execute("ALTER TABLE jobs DROP COLUMN warnings")  # as an earlier m0 wrote it
    older = run_m0("batch", "--status", str(out))
    assert older.returncode == 0 and "Warning" not in older.stdout, older.stderr
    assert run_m0(*args).returncode == 0 and _statuses(out) == ["completed"]


@pytest.mark.slow
def test_a_rerun_gives_a_skipped_jobs_warnings_as_its_run_gave_them(vod_ts, tmp_path):
    """m0 batch --json run again (a nightly script's) gave a job skipped as done earlier
    'warnings': [] though its run had warned that its recording looks cut short, where its
    highlights, clips and outputs were that run's: a script collecting the recordings to look
    at lost it on the second night. A skipped job's warnings are its run's, as --status
    gives them; they are not said again on stderr (-q) nor listed in the summary (not this
    run's news)."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    cut_copy(vod_ts, inputs / "cut.ts")
    args = ("batch", str(inputs), str(out), "--no-clips", "--no-report")
    [first] = json.loads(run_m0(*args, "--json").stdout)["jobs"]
    assert first["status"] == "completed" and len(first["warnings"]) == 1, first
    again = run_m0(*args, "--json")
    [job] = json.loads(again.stdout)["jobs"]
    assert job["status"] == "skipped" and job["warnings"] == first["warnings"], job
    assert "Warning" not in again.stderr, again.stderr
    quiet = run_m0(*args, "-q")
    assert quiet.returncode == 0 and "Warning" not in quiet.stderr, quiet.stderr
    text = run_m0(*args)
    assert "Warning" not in text.stdout + text.stderr, text.stdout + text.stderr
    assert "Not listed: 1 skipped" in text.stdout, text.stdout


@pytest.mark.parametrize("flags, named", [
    (("-v",), "--verbose"), (("-q",), "--quiet"),
    (("--from-file", "new.txt"), "--from-file"),  # not the status of those files
    (("--workers", "3", "-t", "-8"), "--threshold, --workers"),
])
def test_status_refuses_the_options_it_would_not_use(tmp_path, flags, named):
    """m0 batch --status out -q printed the whole ledger, and --status out --from-file
    new.txt, -t -8 or --retry-failed the same as --status out: they did nothing, silently,
    where an option that does nothing beside the others is an error naming it."""
    (tmp_path / "new.txt").write_text("a.mp4\n")
    run = run_m0("batch", "--status", str(tmp_path / "out"), *flags, cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"Error: --status takes OUT_DIR and --json alone: drop {named}"], run.stderr


@pytest.mark.slow
def test_status_says_which_inputs_are_gone_or_changed_since(vod, tmp_path):
    """A studio deletes its VODs once their highlights are cut: ``m0 batch --status`` listed
    them ``completed`` as if they were still there. Their rows are kept (the history, the
    outputs are still there) and marked: ``input gone``, and ``input changed since`` for
    one rewritten after its job (the same command would run it again); ``--json`` says it
    in ``input``."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    videos = _copies(vod, inputs, 3)
    run = run_m0("batch", str(inputs), str(out), "--no-clips", "--no-report", "-q")
    assert run.returncode == 0, run.stderr
    videos[0].unlink()
    os.utime(videos[1], ns=(time.time_ns(), time.time_ns()))
    status = run_m0("batch", "--status", str(out))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.strip().splitlines()
    assert lines[1].startswith("completed ") and lines[1].endswith(
        f"{videos[0]}  (input gone)"), status.stdout
    assert lines[2].endswith(f"{videos[1]}  (input changed since)"), status.stdout
    assert lines[3].endswith(str(videos[2])), status.stdout
    assert lines[4] == "3 jobs: 3 completed; 1 input gone; 1 input changed since"
    shown = json.loads(run_m0("batch", "--status", str(out), "--json").stdout)
    assert [(Path(r["path"]).name, r["status"], r["input"]) for r in shown] == [
        ("vod000.mp4", "completed", "gone"), ("vod001.mp4", "completed", "changed"),
        ("vod002.mp4", "completed", "there")]
    assert len(_ledger_rows(out)) == 3


def test_the_latest_job_is_the_one_the_last_batch_asked_for(vod, tmp_path):
    """A batch with new options stopped before it started a job: that job, pending, is the
    input's latest (the next run does it), not the earlier options' completed one; a batch
    back at the earlier options makes that one the latest again."""
    with Ledger(tmp_path / LEDGER_FILE, lock=True) as ledger:
        first = ledger.add(Identity.of(vod, "a"), str(tmp_path / "x"))
        ledger.start(first.key)
        ledger.finish(first.key, {"status": "completed"})
        second = ledger.add(Identity.of(vod, "b"), str(tmp_path / "x"))
        assert [(r.key, r.status, n) for r, n in ledger.current()] == [
            (second.key, "pending", 1)]
        ledger.add(Identity.of(vod, "a"), str(tmp_path / "x"))
        assert [(r.key, r.status, n) for r, n in ledger.current()] == [
            (first.key, "completed", 1)]


@pytest.mark.slow
def test_a_no_clips_batch_does_not_say_0_clips(vod, tmp_path):
    """m0 batch --no-clips said '2 highlights, 0 clips' of every job, as if each clip had
    failed (m0 analyze says '(--no-clips: no clips)'): its job lines say so, and its table's
    clips column '-'."""
    run = run_m0("batch", str(vod), str(tmp_path / "out"), "--no-clips", "--no-report", "-v")
    assert run.returncode == 0, run.stderr
    assert f"{vod.name}: 2 highlights (--no-clips: no clips) in " in run.stderr
    assert "0 clips" not in run.stderr
    (row,) = [x for x in run.stdout.splitlines() if x.startswith("completed ")]
    assert row.split()[1:3] == ["2", "-"], row
    clipped = run_m0("batch", str(vod), str(tmp_path / "clips"), "--no-report", "-l", "6")
    assert f"{vod.name}: 2 highlights, 2 clips in " in clipped.stderr, clipped.stderr


def test_a_job_whose_output_path_is_a_file_fails_once(vod, tmp_path):
    """A ``BatchJob`` whose output path is a file already there failed retry=True, counted as
    the machine's fault: every rerun ran it again, to fail the same way. It is the job's: it
    fails with one line and is not run again unless retry_failed asks."""
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    ledger = tmp_path / "ledger.sqlite"

    def run(retry_failed: bool = False) -> dict:
        batch = BatchProcessor(max_workers=1, ledger=ledger, retry_failed=retry_failed)
        batch.add_job(BatchJob(str(vod), str(taken)))
        return batch.process_batch()[str(vod)]

    first = run()
    assert first["status"] == "failed" and not first["retry"]
    assert first["error"] == f"{taken}: exists and is not a folder"
    assert run().get("previous") is True  # not run again
    assert run(retry_failed=True)["previous"] is False  # asked: run again
    assert taken.read_text() == "a file, not a folder"


@DASK_FAULT
def test_a_batch_whose_cluster_has_lost_every_worker_says_so_and_waits(vod, tmp_path,
                                                                       monkeypatch):
    """A batch on a cluster whose every worker is gone (killed) waited for ever without a
    word. Once the cluster has had no worker for a while (30 s; 1 s here) it says so in one
    line, and waits on: a worker that comes runs the job."""
    from m0core.batch import executors

    monkeypatch.setattr(executors, "NO_WORKERS_WARNING", 1.0)
    env, tag = tagged_env()
    folder = tmp_path / "cluster"
    folder.mkdir()
    said: list[str] = []
    with _cluster(folder, env) as cluster:
        address = cluster.client.scheduler.address
        os.killpg(cluster.worker.pid, signal.SIGKILL)
        cluster.worker.wait(timeout=30)
        wait_for(lambda: not cluster.client.nthreads(), 30, "the worker gone")
        batch = BatchProcessor(1, "dask", scheduler=address)
        batch.add_job(BatchJob(str(vod), str(tmp_path / "out")))
        results: list[dict] = []
        runner = threading.Thread(target=lambda: results.append(
            batch.process_batch(on_warning=said.append)))
        runner.start()
        wait_for(lambda: said, 30, "the warning")
        assert said == [f"the Dask cluster at {address} has no workers; waiting for one "
                        "(Ctrl-C stops)"]
        assert runner.is_alive()  # waiting on
        again = subprocess.Popen([sys.executable, "-m", "dask", "worker", "--scheduler-file",
                                  str(cluster.info), "--host", "127.0.0.1", "--nthreads", "1",
                                  "--no-dashboard", "--no-nanny"], cwd=folder,
                                 env=cluster.env, start_new_session=True,
                                 stderr=subprocess.DEVNULL)
        try:
            runner.join(timeout=120)
            assert results and results[0][str(vod)]["status"] == "completed", results
        finally:
            _stop(again)
    assert len(said) == 1
    assert not wait_gone(tag, 30)


def test_status_of_an_empty_ledger_writes_nothing_into_it(tmp_path):
    """``m0 batch OUT --status`` where ``m0-batch.sqlite`` is an empty file (a batch killed as
    it made it, a ``touch``) wrote the ledger's schema into it (16 KB): a status read wrote.
    It reads as a ledger of no jobs and leaves the file as it was."""
    out = tmp_path / "out"
    out.mkdir()
    (out / LEDGER_FILE).touch()
    run = run_m0("batch", str(out), "--status")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "no jobs"
    assert (out / LEDGER_FILE).stat().st_size == 0
    run = run_m0("batch", "--status", str(out), "--json")
    assert run.returncode == 0 and json.loads(run.stdout) == []
    assert (out / LEDGER_FILE).stat().st_size == 0


HANGS = '''
import time
from m0core import hookimpl
from m0_plugins.rms.streaming import RmsStreaming

class HangsLate(RmsStreaming):
    """rms-streaming that hangs (sleeps for an hour) once it is fed audio past 150 s."""
    def feed(self, chunk):
        if chunk.start + chunk.duration > 150:
            time.sleep(3600)
        return super().feed(chunk)

@hookimpl
def m0_register_analyzers(register):
    register("hangs-late", HangsLate)
'''


def _hang_media(make_media) -> tuple[Path, Path]:
    """A 4-minute recording loud at 13 s, whose job hangs with :data:`HANGS` after its clip of
    13 s is cut, and one of 10 s, whose job does not."""
    long = make_media(
        "timeout-long.wav", "-filter_complex",
        "anoisesrc=color=pink:amplitude=0.02:sample_rate=16000:duration=240[bed];"
        "anoisesrc=color=white:amplitude=0.6:sample_rate=16000:duration=240:seed=7,"
        "volume='between(t,12,14)':eval=frame[burst];[bed][burst]amix=inputs=2:normalize=0")
    short = make_media("timeout-short.wav", "-f", "lavfi", "-i",
                       "anoisesrc=color=pink:amplitude=0.1:sample_rate=16000:duration=10")
    return long, short


@pytest.mark.slow  # 12 s, most of it two 5 s timeouts: the slow tier, which CI runs too
def test_a_job_that_hangs_times_out_and_the_batch_goes_on(make_media, tmp_path, fake_dist):
    """A job that hung (a decoder stuck on a broken file, a share that stalled) held its
    worker for ever and the batch never ended. With --job-timeout it is stopped as Ctrl-C
    stops a job (its process and ffmpeg gone, the clip it had cut removed), fails with one
    line, and the others go on. The next run tries it once more (a stall passes); a job that
    timed out twice is reported as its file's failure, not run again."""
    long, short = _hang_media(make_media)
    env, tag = tagged_env(fake_dist("m0-hangs", HANGS))
    out = tmp_path / "out"
    args = ("batch", str(long), str(short), str(out), "--workers", "2", "--jobs", "0",
            "--analyzer", "hangs-late", "--job-timeout", "5", "--json")
    began = time.monotonic()
    proc = m0_popen(*args, env=env)
    try:
        wait_for(lambda: any(out.glob("timeout-long_highlights/**/*.wav")), 5,
                 "the hung job's clip")
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    took = time.monotonic() - began
    assert proc.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1] == "Error: 1 of 2 jobs failed"
    assert "Traceback" not in stderr
    hung, done = json.loads(stdout)["jobs"]
    assert hung["status"] == "failed" and hung["error"] == "timed out after 5 s", hung
    assert hung["retry"] and done["status"] == "completed"
    assert took < 5 + 10, f"the batch took {took:.1f} s"
    assert not wait_gone(tag, timeout=5)  # the job's process and its ffmpeg
    assert not os.path.exists(hung["output_path"]) and not list(out.rglob(".partial-*"))

    again = run_m0(*args, env=env, timeout=60)  # once more: it times out again
    assert again.returncode == 1
    hung, done = json.loads(again.stdout)["jobs"]
    assert hung["error"] == "timed out after 5 s" and not hung["retry"]
    assert hung["attempts"] == 2 and done["status"] == "skipped"
    third = run_m0(*args, env=env, timeout=60)  # its file's: reported, not run
    hung, _ = json.loads(third.stdout)["jobs"]
    assert hung["previous"] and hung["attempts"] == 2
    assert not wait_gone(tag, timeout=5)


def test_a_job_timeout_must_be_seconds_over_0(tmp_path, wav):
    run = run_m0("batch", str(wav), str(tmp_path / "out"), "--job-timeout", "0")
    assert run.returncode == 2 and "--job-timeout" in run.stderr
    with pytest.raises(OptionError, match="job_timeout must be more than 0"):
        BatchProcessor(job_timeout=-1)
    with pytest.raises(OptionError, match="job_timeout must be more than 0"):
        BatchProcessor(executor="dask", job_timeout=0)


@DASK_FAULT
def test_a_job_that_hangs_on_a_dask_worker_times_out_and_the_batch_goes_on(
        make_media, tmp_path, fake_dist):
    """--job-timeout with --executor dask was refused: a Dask worker cannot stop a thread
    that hangs. Each job runs in a process of its own on its worker, stopped once over its
    time as a local job is: it fails, 'timed out after 4 s', and the other jobs go on."""
    long, short = _hang_media(make_media)
    env, tag = tagged_env(fake_dist("m0-hangs", HANGS))
    out = tmp_path / "out"
    run = run_m0("batch", str(long), str(short), str(out), "--executor", "dask", "--workers",
                 "2", "--jobs", "0", "--analyzer", "hangs-late", "--job-timeout", "4",
                 "--json", env=env, timeout=90)
    assert run.returncode == 1, run.stderr
    hung, done = json.loads(run.stdout)["jobs"]
    assert hung["status"] == "failed" and hung["error"] == "timed out after 4 s", hung
    assert hung["retry"] and done["status"] == "completed"
    assert not os.path.exists(hung["output_path"]) and not list(out.rglob(".partial-*"))
    assert not wait_gone(tag, timeout=10)  # the job's process, its ffmpeg, the cluster


def test_one_recording_into_two_folders_is_a_job_in_each(wav, tmp_path):
    """One recording given to two output folders with the same options and one ledger
    (``BatchJob("a.mp4", "out1/")``, ``BatchJob("a.mp4", "out2/")``) shared one ledger row,
    whose folder was the last one asked: every rerun ran both again (each took the row to its
    folder, 'pending'), and how one ended overwrote how the other did. Each folder's job has a
    row of its own: both folders get their outputs, and a rerun skips both."""
    ledger = tmp_path / LEDGER_FILE
    jobs = [BatchJob(wav, tmp_path / "out1", job_id="one"),
            BatchJob(wav, tmp_path / "out2", job_id="two")]
    first = BatchProcessor(max_workers=2, ledger=ledger).process_batch(jobs)
    assert [r["status"] for r in first.values()] == ["completed", "completed"]
    for folder in ("out1", "out2"):
        assert len(list((tmp_path / folder).glob("*.wav"))) == len(LOUD_AT)
    again = BatchProcessor(max_workers=2, ledger=ledger).process_batch(jobs)
    assert [r["status"] for r in again.values()] == ["skipped", "skipped"]
    with Ledger(ledger) as book:
        rows = book.rows()
    assert sorted(Path(r.out_dir).name for r in rows) == ["out1", "out2"]
    assert [r.attempts for r in rows] == [1, 1]


def test_every_job_of_m0_batch_json_has_the_same_fields(wav, tmp_path):
    """``m0 batch --json`` gave a job that failed in an earlier run a ``previous`` field the
    others lacked, and a job whose name the ledger cannot hold no ``attempts``: a script that
    read ``job["previous"]`` or ``job["attempts"]`` of every job met a KeyError. Every job has
    every field, whatever its status."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(wav, inputs / "ok.wav")
    (inputs / "broken.wav").write_bytes(b"not a recording")
    shutil.copy(wav, os.fsdecode(os.fsencode(inputs) + b"/caf\xe9.wav"))
    args = ("batch", str(inputs), str(tmp_path / "out"), "--no-clips", "--no-report", "--json")
    jobs = []
    for _ in range(2):
        run = run_m0(*args)
        assert run.returncode == 1, run.stderr
        jobs += json.loads(run.stdout)["jobs"]
    assert {(j["status"], j["previous"]) for j in jobs} == {
        ("completed", False), ("failed", False), ("skipped", False), ("failed", True)}
    assert len({tuple(sorted(j)) for j in jobs}) == 1, [sorted(j) for j in jobs]


def test_a_rerun_tells_the_failures_of_earlier_runs_from_its_own(wav, tmp_path):
    """A nightly batch reported the broken files of earlier nights, not run again, exactly as
    the failures of the night ('✗ broken.wav: …', 'failed', 'Error: 2 of 3 jobs failed'): who
    read the log in the morning could not tell what was new. Their lines say they failed in
    an earlier run, the counts say 'failed earlier', and so does the error line."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(wav, inputs / "ok.wav")
    (inputs / "broken.wav").write_bytes(b"not a recording")
    args = ("batch", str(inputs), str(tmp_path / "out"), "--no-clips", "--no-report")
    assert run_m0(*args).returncode == 1
    (inputs / "new.wav").write_bytes(b"not one either")
    run = run_m0(*args)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines[-1] == ("Error: 2 of 3 jobs failed (1 failed in an earlier run, not retried "
                         "without --retry-failed)")
    [old] = [line for line in lines if "broken.wav: " in line]
    [new] = [line for line in lines if "new.wav: " in line]
    assert old.endswith("(failed in an earlier run; not retried)")
    assert "earlier" not in new
    assert "3 jobs: 1 failed, 1 failed earlier, 1 skipped" in run.stdout


def test_status_says_no_clips_were_asked_for_as_the_summary_does(wav, tmp_path):
    """``m0 batch wav out --no-clips -v`` showed ``-`` in its summary's clips column (none were
    asked for) and ``m0 batch --status out`` showed ``0``, as if every clip had failed. The
    ledger records no clip count for a job without clips: --status shows ``-``, its --json
    ``"clips": null``; a job that cuts clips still has its count."""
    out = tmp_path / "out"
    run = run_m0("batch", str(wav), str(out), "--no-clips", "--no-report", "-v")
    assert run.returncode == 0, run.stderr
    clips_column = re.compile(r"completed +\d+ +(\S+) ")
    assert [m[1] for m in clips_column.finditer(run.stdout)] == ["-"], run.stdout
    status = run_m0("batch", "--status", str(out)).stdout  # tries, highlights, clips
    assert re.findall(r"completed +1 +\d+ +(\S+) ", status) == ["-"], status
    [row] = json.loads(run_m0("batch", "--status", str(out), "--json").stdout)
    assert row["clips"] is None, row
    assert run_m0("batch", str(wav), str(out), "--no-report", "-q").returncode == 0
    [row] = json.loads(run_m0("batch", "--status", str(out), "--json").stdout)
    assert isinstance(row["clips"], int), row


@pytest.mark.slow
def test_every_output_of_batch_says_alike_whether_clips_were_asked_for(wav, tmp_path):
    """``m0 batch --no-clips --json`` gave ``"clips": 0`` for a job that ``m0 batch --status
    --json`` gave ``null`` and the summary ``-``: a script could not tell no clips asked for
    from every clip failed. Each output of batch says it alike: ``null`` / ``-`` when no clips
    were asked for (a job that failed, or was skipped, too), ``0`` when they were and none
    was made."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(wav, inputs / "talk.wav")
    (inputs / "broken.wav").write_bytes(b"not a recording")
    out = tmp_path / "out"
    for clips, said in ((["--no-clips"], None), ([], 0)):
        args = ("batch", str(inputs), str(out), "--no-report", *clips)
        first = json.loads(run_m0(*args, "--json").stdout)["jobs"]
        again = run_m0(*args, "-v")  # skipped, and failed in an earlier run
        rows = json.loads(run_m0("batch", "--status", str(out), "--json").stdout)
        table = run_m0("batch", "--status", str(out)).stdout
        shown = "-" if said is None else "0"
        assert [j["clips"] for j in first if j["status"] == "failed"] == [said], first
        assert [r["clips"] for r in rows if r["status"] == "failed"] == [said], rows
        assert re.findall(r"failed +1 +0 +(\S+) ", table) == [shown], table
        assert re.findall(r"failed +0 +(\S+) ", again.stdout) == [shown], again.stdout
        if said is None:  # the recording's job, done and skipped; with clips, it makes some
            assert [j["clips"] for j in first if j["status"] == "completed"] == [None], first
            assert re.findall(r"skipped +\d+ +(\S+) ", again.stdout) == ["-"], again.stdout
            assert [r["clips"] for r in rows if r["status"] == "completed"] == [None], rows
            assert re.findall(r"completed +1 +\d+ +(\S+) ", table) == ["-"], table
            assert "(--no-clips: no clips) (done before)" in again.stderr, again.stderr


def test_a_skipped_jobs_result_holds_what_its_run_warned_of(wav, tmp_path):
    """A rerun's job skipped as done had ``warnings: []`` in --json (and m0 gui's progress
    showed it as a whole recording's), though its run warned that its recording looks cut
    short and --status says so. Its result holds that run's warnings, as it holds its counts;
    the rerun does not say them again (with -q, or in its summary), but -v lists them."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / "cut.wav").write_bytes(wav.read_bytes()[:wav.stat().st_size * 2 // 3])
    args = ("batch", str(inputs), str(out), "--no-clips", "--no-report")
    first = run_m0(*args, "-q")
    assert first.returncode == 0 and first.stderr.startswith("Warning: "), first.stderr
    warning = first.stderr.strip().removeprefix("Warning: ")
    [job] = json.loads(run_m0(*args, "--json").stdout)["jobs"]
    assert (job["status"], job["warnings"]) == ("skipped", [warning]), job
    assert "Warning" not in run_m0(*args, "-q").stderr
    again = run_m0(*args)
    assert "Warning" not in again.stderr + again.stdout, again.stdout
    listed = run_m0(*args, "-v")
    assert f"Warning: {warning.split(': ', 1)[1]}" in listed.stdout, listed.stdout


def test_a_jobs_process_stopped_as_it_imports_its_module_stops_after_the_import(tmp_path):
    """A batch's Ctrl-C (SIGTERM to each job's process) that came as the process imported its
    job's module was raised inside the import: the module was left half made, and where it
    landed in importlib's own callback, 'Exception ignored in: … Traceback …' was printed
    under the batch's lines. The stop waits for the import to end, then stops the job as
    Ctrl-C would (exit code 130), with nothing printed."""
    (tmp_path / "slowjob.py").write_text(
        "import pathlib, time\n"
        "here = pathlib.Path(__file__).parent\n"
        "(here / 'began').touch()\n"
        "time.sleep(1.0)\n"
        "(here / 'imported').touch()\n\n"
        "def job(spec, report):\n"
        "    time.sleep(30)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", "m0core.batch.worker"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(json.dumps({"fn": "slowjob:job", "spec": {}}).encode() + b"\n")
        proc.stdin.flush()
        wait_for(lambda: (tmp_path / "began").exists(), 30, "the import to begin")
        time.sleep(0.2)  # inside the module's import, its sleep
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
        stderr = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
    assert (tmp_path / "imported").exists()  # the import ran to its end
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_a_jobs_process_whose_batch_stopped_before_sending_the_job_ends_quietly():
    """A batch stopped (Ctrl-C) between starting a job's process and sending it the job
    closes its stdin with nothing on it: the process tried to read that as the request and
    printed a JSONDecodeError's traceback under the batch's lines (the signal sweep met it).
    It ends as a stopped job does (exit code 130), with nothing printed."""
    run = subprocess.run([sys.executable, "-m", "m0core.batch.worker"], input=b"",
                         capture_output=True, timeout=60)
    assert (run.returncode, run.stderr, run.stdout) == (130, b"", b"")


# -- on a running cluster ---------------------------------------------------------------------
# Last in this file: its clusters are module-scoped, stopped at the module's end, and idle
# they take CPU (a few % of a core each) from every test that runs while they wait.


@pytest.fixture(scope="module")
def running_cluster(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """One cluster (:func:`_tagged_cluster`) for the tests that leave it running, started
    once: each start and stop of a scheduler and a worker took 2.5 s."""
    # not where a test writes modules it imports
    with _tagged_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def dask_cluster(running_cluster) -> Iterator[SimpleNamespace]:
    """:func:`running_cluster` for one test (:func:`_one_test_on`)."""
    with _one_test_on(running_cluster) as cluster:
        yield cluster


@pytest.mark.slow
def test_a_stopped_batch_stops_its_job_on_a_running_cluster(vod, tmp_path, dask_cluster):
    """Ctrl-C (SIGTERM here) of a batch on a cluster it did not start: the job running on a
    worker stops and removes what it wrote, as the ledger's "interrupted" says, rather than
    going on to write its clips into OUT_DIR after the batch has gone."""
    client, env = dask_cluster.client, dask_cluster.env
    inputs = tmp_path / "in"
    _copies(vod, inputs, 2)
    out = tmp_path / "out"
    proc = m0_popen("batch", str(inputs), str(out), "--executor", "dask", "--scheduler",
                    client.scheduler.address, "--cut", "accurate", "--no-cache", env=env)
    wait_for(lambda: cutting_clips(out), 120, "clips being cut")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert sorted(_statuses(out)) == ["interrupted", "pending"]  # one worker thread: one job
    wait_for(lambda: not any(client.run(running_tasks).values()), 120, "an idle worker")
    assert not [p for p in out.rglob("*") if p.is_file() and p.suffix != ".lock"
                and not p.name.startswith("m0-batch.sqlite")]


@DASK_FAULT
def test_a_killed_batch_leaves_no_job_running_on_a_running_cluster(vod, tmp_path,
                                                                   dask_cluster):
    """SIGKILL of a batch on a cluster it did not start: its job on a worker stops at its next
    step (its client, and so its task, is gone) and removes what it wrote; the rerun finds
    the job "running" and redoes it."""
    client, env = dask_cluster.client, dask_cluster.env
    out = tmp_path / "out"
    args = ("batch", str(vod), str(out), "--executor", "dask", "--scheduler",
            client.scheduler.address, "--cut", "accurate", "--no-cache")
    proc = m0_popen(*args, env=env)
    wait_for(lambda: cutting_clips(out), 120, "clips being cut")
    proc.kill()
    proc.communicate(timeout=60)
    wait_for(lambda: not any(client.run(running_tasks).values()), 120, "an idle worker")
    assert not [p for p in out.rglob("*") if p.is_file() and p.suffix != ".lock"
                and not p.name.startswith("m0-batch.sqlite")]
    assert _statuses(out) == ["running"]
    again = run_m0(*args, "--json", env=env)
    assert again.returncode == 0, again.stderr
    [result] = json.loads(again.stdout)["jobs"]
    assert result["status"] == "completed" and result["clips"] == len(LOUD_AT)


def test_a_job_the_cluster_cannot_run_fails_on_one_line(tmp_path, dask_cluster, monkeypatch):
    """A cluster whose software differs from the submitting machine's (here: a job function
    its scheduler cannot import): each job fails with Dask's reason on one line."""
    from m0core.batch.executors import DaskExecutor

    client = dask_cluster.client
    (tmp_path / "only_here.py").write_text("def job(spec, report=None, stop=None):\n"
                                           "    return {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from only_here import job

    events = []
    DaskExecutor(1, client.scheduler.address).map(
        job, [{"job_id": "a", "key": "k"}], lambda *event: events.append(event))
    [(kind, job_id, (status, reason, retry))] = [e for e in events if e[0] != "started"]
    assert (kind, job_id, status, retry) == ("lost", "a", "failed", True)
    assert reason.startswith("dask: ") and "\n" not in reason, reason


@pytest.mark.slow
def test_relative_paths_reach_workers_in_another_folder(vod, tmp_path, dask_cluster,
                                                        monkeypatch):
    """A cluster's workers run in folders of their own: the seed's
    ``BatchJob("video1.mp4", "output1/")`` on Dask failed ``video1.mp4: no such file`` there
    (the file beside the script), and would have written into the worker's folder. A job
    takes its paths as the calling process means them."""
    shutil.copy(vod, tmp_path / "rel.mp4")
    monkeypatch.chdir(tmp_path)  # the workers run where the tests were started
    processor = BatchProcessor(1, "dask", scheduler=dask_cluster.client.scheduler.address)
    job = BatchJob("rel.mp4", "out", clips=False, report=False)
    [result] = processor.process_batch([job]).values()
    assert result["status"] == "completed", result["error"]
    assert result["highlights"] == len(LOUD_AT)
    assert (tmp_path / "out" / "highlights.json").is_file()
    assert Path(result["output_path"]) == tmp_path / "out"


def test_a_plugin_a_worker_lacks_fails_its_jobs_for_the_machine(vod, tmp_path, fake_dist,
                                                                 dask_cluster):
    """A plugin installed where the batch is submitted and not yet on the workers: each job
    failed 'unknown analyzer "flux" (available: …)', a name the submitting machine lists,
    and the same command once it was installed there ran nothing ('failed in an earlier
    run'). The line says where it is missing, and the jobs run again."""
    env = fake_dist("m0-flux", "from m0core import hookimpl\n"
                               "from m0_plugins.rms.streaming import RmsStreaming\n"
                               "@hookimpl\n"
                               "def m0_register_analyzers(register):\n"
                               "    register('flux', RmsStreaming)\n")
    out = tmp_path / "out"
    args = ("batch", str(vod), str(out), "--analyzer", "flux", "--no-clips", "--json")
    first = run_m0(*args, "--executor", "dask", "--scheduler",  # the cluster is without it
                   dask_cluster.client.scheduler.address, env=env)
    assert first.returncode == 1, first.stderr
    [job] = json.loads(first.stdout)["jobs"]
    assert job["error"].startswith(f'on {socket.gethostname()}: unknown analyzer "flux"'), job
    again = run_m0(*args, env=env)  # installed everywhere (here: local processes)
    [job] = json.loads(again.stdout)["jobs"]
    assert job["status"] == "completed" and job["highlights"] == len(LOUD_AT), job


@pytest.fixture(scope="module")
def hidden_share(tmp_path_factory) -> Iterator[tuple[Path, SimpleNamespace]]:
    """A folder (a share) and a cluster (:func:`_tagged_cluster`) whose worker does not see
    it, as a worker machine that has not mounted the share, started once for the tests."""
    share = tmp_path_factory.mktemp("share")
    with _tagged_cluster(tmp_path_factory.mktemp("cluster"), hide=share) as cluster:
        yield share, cluster


@pytest.fixture
def unseen(hidden_share, request) -> Iterator[tuple[Path, SimpleNamespace]]:
    """A folder of this test in :func:`hidden_share`'s share, and its cluster for this test
    (:func:`_one_test_on`)."""
    share, cluster = hidden_share
    folder = share / request.node.name
    folder.mkdir()
    with _one_test_on(cluster) as one:
        yield folder, one


def _failed_where_share_is_hidden(args: tuple, cluster: SimpleNamespace) -> dict:
    """Run ``m0 *args`` (a batch of one job, ``--json``) on ``cluster``, whose workers do not
    see the share; return its job, after checking the batch exited 1."""
    first = run_m0(*args, "--executor", "dask", "--scheduler",
                   cluster.client.scheduler.address, env=cluster.env)
    assert first.returncode == 1, first.stderr
    [job] = json.loads(first.stdout)["jobs"]
    return job


@pytest.mark.skipif(not _can_hide(), reason="hiding a folder from a worker needs root")
def test_a_recording_a_worker_cannot_see_runs_again_once_it_can(vod, tmp_path, unseen):
    """A worker machine that has not mounted the recordings' share fails their jobs 'no such
    file': the machine's doing, not the files'. The same command once the share was mounted
    said 'failed in an earlier run' and ran nothing but with --retry-failed; it runs them."""
    share, cluster = unseen
    shutil.copy(vod, share / "seen.mp4")
    args = ("batch", str(share), str(tmp_path / "out"), "--no-clips", "--json")
    job = _failed_where_share_is_hidden(args, cluster)
    assert job["error"] == f"{share / 'seen.mp4'}: no such file", job
    again = run_m0(*args)  # the share mounted (here: local processes)
    [job] = json.loads(again.stdout)["jobs"]
    assert job["status"] == "completed" and job["highlights"] == len(LOUD_AT), job


@pytest.mark.slow
@pytest.mark.skipif(not _can_hide(), reason="hiding a folder from a worker needs root")
def test_a_worker_that_writes_where_the_batch_cannot_see_is_no_success(vod, unseen):
    """A worker machine without OUT_DIR's share wrote the clips at its path on a disk of its
    own: the batch said 'completed, 2 clips' and exit 0, OUT_DIR had none of them, and the
    rerun skipped the job as done. Such a job failed for the machine and runs again."""
    share, cluster = unseen
    out = share / "out"
    args = ("batch", str(vod), str(out), "--no-report", "--json")
    job = _failed_where_share_is_hidden(args, cluster)
    assert job["status"] == "failed" and "OUT_DIR must be at the same path" in job["error"]
    assert not list((out / "vod_highlights").glob("*"))
    again = run_m0(*args)  # the share mounted (here: local processes)
    [job] = json.loads(again.stdout)["jobs"]
    assert job["status"] == "completed" and job["clips"] == len(LOUD_AT), job
