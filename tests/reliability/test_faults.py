"""Faults with real processes: a decoder killed, a clip's ffmpeg killed or hanging, Ctrl-C and
SIGTERM to ``m0 analyze`` and ``m0 batch``, a plugin raising mid-stream.

Elsewhere: a clip's ffmpeg hanging on a stalled input in-process (``test_encoder.py``:
timeout, cancel); SIGKILL and SIGTERM to ``m0 batch`` and a job killed outright
(``test_batch.py``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import run_m0, sweep
from helpers import SLOW, assert_one_error_line, files
from procs import cutting_clips, hangup_stops, m0_popen, ours, tagged_env, wait_for, wait_gone

from m0core.batch.ledger import LEDGER_FILE, Ledger
from m0core.media.ffmpeg import ffmpeg_exe


@pytest.fixture(scope="module")
def long_wav(make_media) -> Path:
    """11 minutes (long enough for segment workers) of 8 kHz noise, loud at 20 s and 400 s."""
    return make_media("long.wav", "-f", "lavfi", "-i",
                      "anoisesrc=a=0.02:d=660:r=8000,"
                      "volume='1+25*(between(t,20,22)+between(t,400,402))':eval=frame")


@pytest.fixture
def slow_env(fake_dist) -> dict[str, str]:
    """An environment with the ``slow`` analyzer installed (0.1 s per chunk), tagged."""
    env, _ = tagged_env(fake_dist("m0-slow", SLOW))
    return dict(env, M0_SLOW="0.1")


def _ffmpeg_wrapper(folder: Path, when: str, how: str) -> str:
    """An ffmpeg that runs ``how`` (a shell command) instead of itself when its arguments
    contain ``when``; ``$REAL`` is the real ffmpeg."""
    script = folder / "ffmpeg-wrapper"
    script.write_text(f'#!/bin/sh\nREAL="{ffmpeg_exe()}"\ncase "$*" in *{when}*) {how};; esac\n'
                      'exec "$REAL" "$@"\n')
    script.chmod(0o755)
    return str(script)


def _tag(env: dict[str, str]) -> str:
    return env["M0_TEST_TAG"]


def _named(tag: str, word: str, having: str | None = None) -> list:
    """Our processes with ``word`` as their first arguments or in their program's name (and
    ``having`` among their arguments, when given)."""
    found = []
    for proc in ours(tag):
        try:
            argv = proc.cmdline()
        except psutil.Error:
            continue
        if argv and (word in argv[1:3] or word in Path(argv[0]).name) \
                and (having is None or having in argv):
            found.append(proc)
    return found


def _finish(proc, timeout: float = 30.0) -> tuple[str, float]:
    began = time.monotonic()
    try:
        _, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return stderr, time.monotonic() - began


def _run_of(proc, stderr: str):
    return type("Run", (), {"returncode": proc.returncode, "stderr": stderr})


# -- a decoder dies ---------------------------------------------------------------------------

@pytest.mark.parametrize("victim", ["segment worker", "ffmpeg of --source ffmpeg"])
def test_decoder_killed_during_analysis(victim, long_wav, slow_env, tmp_path):
    """What can die is a segment worker (decoding runs in worker processes by default), or
    the ffmpeg program that the ffmpeg source reads from (in its worker)."""
    word, args = (("m0core.pipeline.segments", ["--jobs", "2"]) if victim == "segment worker"
                  else ("ffmpeg", ["--source", "ffmpeg"]))
    out = tmp_path / "out"
    proc = m0_popen("analyze", str(long_wav), str(out), "--analyzer", "slow", "--no-cache",
                    *args, env=slow_env)
    # both segments' workers: the first one seen may be the one started ahead of the plan,
    # which a loaded machine's m0 has not taken yet (a dead one is replaced, rightly)
    running = 2 if victim == "segment worker" else 1
    # the ffmpeg that decodes (its samples to the pipe), not the probe's, which comes and goes
    # before it: killing that one is a file ffmpeg cannot read
    having = None if victim == "segment worker" else "pipe:1"
    wait_for(lambda: len(_named(_tag(slow_env), word, having)) >= running, 60, victim)
    time.sleep(0.5)
    # one may have ended: kill one of those there now
    wait_for(lambda: _named(_tag(slow_env), word, having), 60, victim)[0].kill()
    stderr, took = _finish(proc)
    expected = ("a decoding worker died (exit code -9" if victim == "segment worker"
                else "ffmpeg was killed by SIGKILL (out of memory?) while decoding")
    assert_one_error_line(_run_of(proc, stderr), expected)
    assert took < 15
    assert not wait_gone(_tag(slow_env), 10)
    assert files(out) == []


# -- a clip's ffmpeg is killed or hangs -------------------------------------------------------

@pytest.mark.parametrize("fault", ["killed", "hangs"])
def test_one_clip_fails_the_others_are_fine(fault, vod, tmp_path):
    """Clip 2's ffmpeg reads its input in real time (``-re``): it is killed half-way, or the
    clip timeout (``-P encoder.timeout``) fires and kills it."""
    env, tag = tagged_env()
    env["M0_FFMPEG"] = _ffmpeg_wrapper(tmp_path, "02_0h", 'exec "$REAL" -re "$@"')
    out = tmp_path / "out"
    args = ["analyze", str(vod), str(out), "--no-report", "--workers", "2"]
    if fault == "hangs":
        args += ["-P", "encoder.timeout=3"]
    proc = m0_popen(*args, env=env)
    if fault == "killed":
        partial = ".m0-run-*/.partial-*02_0h*"  # in the run's private folder (m0core.staging)
        wait_for(lambda: any(out.glob(partial))
                 and any(p.stat().st_size for p in out.glob(partial)), 60,
                 "clip 2 half-written")
        _named(tag, "-re")[0].kill()
    stderr, _ = _finish(proc, 60)
    assert_one_error_line(_run_of(proc, stderr), "1 of 2 clips failed")
    reason = ("ffmpeg was killed by SIGKILL (out of memory?)" if fault == "killed"
              else "timed out after 3 s")
    assert f"Warning: clip 2 failed: {reason}" in stderr
    doc = json.loads((out / "highlights.json").read_text())
    first, second = doc["highlights"]
    assert (out / first["clip"]).stat().st_size > 0
    assert second["clip"] is None and reason in second["clip_error"]
    assert sorted(os.listdir(out)) == sorted([first["clip"], "highlights.json", "index.json"])
    assert not wait_gone(tag, 10)


def test_a_clip_ffmpeg_wrote_without_picture_or_sound_fails(vod, tmp_path):
    """ffmpeg exits 0 having written an MP4 of a few hundred bytes with no track (a window its
    seek could not find: a recording whose timestamps start again): it was listed as made.
    Now that clip fails with a reason and is not kept; the other is made."""
    env, _ = tagged_env()
    # clip 1's ffmpeg writes, into the clip's file, an output sought past its input's end
    env["M0_FFMPEG"] = _ffmpeg_wrapper(
        tmp_path, "01_0h", 'for last; do :; done; exec "$REAL" -v error -y -f lavfi -i '
        'testsrc2=duration=1 -ss 100 -c:v libx264 "$last"')
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), "--no-report", env=env)
    assert_one_error_line(run, "1 of 2 clips failed")
    assert "Warning: clip 1 failed: ffmpeg wrote an empty clip" in run.stderr
    first, second = json.loads((out / "highlights.json").read_text())["highlights"]
    assert first["clip"] is None and second["clip"] and (out / second["clip"]).is_file()
    assert sorted(os.listdir(out)) == sorted([second["clip"], "highlights.json", "index.json"])


def test_a_batch_runs_again_the_jobs_that_failed_for_the_machine(vod, tmp_path):
    """A job whose clip could not be cut (its ffmpeg failed: a full disk, a killed ffmpeg) is
    run again by the same command once the machine is mended, without --retry-failed (it was
    reported failed and skipped, as if its file were broken); a broken file is not."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(vod, inputs / name)
    (inputs / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    out = tmp_path / "out"
    env, _ = tagged_env()
    failing = dict(env, M0_FFMPEG=_ffmpeg_wrapper(tmp_path, "b_highlights", "exit 1"))
    first = run_m0("batch", str(inputs), str(out), "--no-report", "--json", env=failing)
    assert first.returncode == 1
    status = {Path(r["video_path"]).name: r["status"] for r in json.loads(first.stdout)["jobs"]}
    assert status == {"a.mp4": "completed", "b.mp4": "failed", "broken.mp4": "failed"}
    again = run_m0("batch", str(inputs), str(out), "--no-report", "--json", env=env)
    jobs = {Path(r["video_path"]).name: r for r in json.loads(again.stdout)["jobs"]}
    assert {n: r["status"] for n, r in jobs.items()} == \
        {"a.mp4": "skipped", "b.mp4": "completed", "broken.mp4": "failed"}
    assert jobs["b.mp4"]["attempts"] == 2 and jobs["broken.mp4"]["attempts"] == 1
    assert again.returncode == 1 and jobs["broken.mp4"]["previous"]  # reported, not rerun


@pytest.mark.parametrize("when, args", [
    (".partial-", []),  # a clip being cut
    ("ebur128", ["--loudness", "-14"]),  # a short-form clip's loudness being measured
], ids=["clip", "loudness"])
def test_sigkill_of_analyze_kills_its_ffmpeg(when, args, vod, tmp_path):
    """SIGKILL runs no clean-up: the kernel kills the ffmpeg processes m0 started (their
    parent-death signal; the wrapper exec-ing ffmpeg keeps it)."""
    env, tag = tagged_env()
    env["M0_FFMPEG"] = _ffmpeg_wrapper(tmp_path, when, 'exec "$REAL" -re "$@"')
    proc = m0_popen("analyze", str(vod), str(tmp_path / "out"), "--no-report", "--workers", "2",
                    *args, env=env)
    wait_for(lambda: _named(tag, "-re"), 60, "an ffmpeg of the run at work")
    proc.kill()  # m0 alone, not its process group
    proc.communicate(timeout=10)
    assert not wait_gone(tag, 5), "ffmpeg outlived the m0 that started it"


# -- Ctrl-C, SIGTERM, SIGHUP -------------------------------------------------------------------

@pytest.mark.parametrize("how", sweep(["SIGINT to the group (Ctrl-C)", "SIGTERM", "SIGHUP"],
                                      {"SIGINT to the group (Ctrl-C)"}))
def test_signal_stops_analyze(how, long_wav, slow_env, tmp_path):
    """Stopped while segment workers decode and a clip's ffmpeg (slowed by ``-re``) writes."""
    env = dict(slow_env, M0_FFMPEG=_ffmpeg_wrapper(tmp_path, ".partial-",
                                                   'exec "$REAL" -re "$@"'))
    out = tmp_path / "out"
    proc = m0_popen("analyze", str(long_wav), str(out), "--analyzer", "slow", "--no-cache",
                    "--jobs", "2", "-l", "60", env=env)
    wait_for(lambda: _named(_tag(env), "-re") and _named(_tag(env), "m0core.pipeline.segments"), 60,
             "a clip being cut while segments decode")
    if how in ("SIGTERM", "SIGHUP"):  # SIGHUP: its terminal closed
        proc.send_signal(getattr(signal, how))
    else:
        os.killpg(proc.pid, signal.SIGINT)
    stderr, took = _finish(proc)
    assert proc.returncode == 130 and stderr.strip().endswith("Error: interrupted"), stderr
    assert "Traceback" not in stderr and took < 10
    assert not wait_gone(_tag(env), 10)
    assert not out.exists()  # it made the folder: nothing of it is left


def test_a_stop_as_the_private_folder_is_made_leaves_nothing(wav, tmp_path, monkeypatch):
    """Ctrl-C arriving just as the run's private folder was made (in the full suite, the
    terminal closed as the bar was first drawn): the stop is raised before the run holds the
    folder, and the folder stayed in OUT_DIR. It waits until the run holds it."""
    import m0core
    from m0core import staging

    made = Path.mkdir

    def stopped_after(self, *args, **kwargs):
        made(self, *args, **kwargs)
        if self.name.startswith(staging.PREFIX):
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Path, "mkdir", stopped_after)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        m0core.analyze(wav, out, clips=False, cache=False)
    assert not out.exists(), sorted(p.name for p in out.iterdir())


def test_closing_the_terminal_stops_analyze_with_130(long_wav, slow_env, tmp_path):
    """The terminal m0 runs in is closed while it draws its bar: the kernel sends SIGHUP and
    every write to the terminal fails (EIO). The bar's last line turned the stop into that
    error, exit code 1; it is the closed terminal's 130, as README says."""
    import fcntl
    import termios

    out = tmp_path / "out"
    leader, follower = os.openpty()
    proc = subprocess.Popen(  # the terminal's session: its leader m0, the terminal its own
        [sys.executable, "-m", "m0core", "analyze", str(long_wav), str(out), "--analyzer",
         "slow", "--no-cache", "--jobs", "2"], env=slow_env, stdin=follower, stdout=follower,
        stderr=follower, start_new_session=True,
        preexec_fn=lambda: (hangup_stops(), fcntl.ioctl(0, termios.TIOCSCTTY, 0)))
    os.close(follower)
    drawn = b""
    while b"Analysing" not in drawn:
        drawn += os.read(leader, 4096)
    os.close(leader)  # the window closes
    try:
        assert proc.wait(timeout=30) == 130, drawn
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not wait_gone(_tag(slow_env), 10)
    assert not out.exists(), sorted(p.name for p in out.rglob("*")) if out.exists() else None


#: The ``m0`` console script's two lines, Ctrl-C arriving as its first import of ``module``.
_STARTING = '''
import builtins, os, signal, sys
real, module = builtins.__import__, sys.argv[1]
def hit(name, *args, **kwargs):
    if name == module and not hit.done:
        hit.done = True
        os.kill(os.getpid(), signal.SIGINT)
    return real(name, *args, **kwargs)
hit.done = False
builtins.__import__ = hit
sys.argv = ["m0", *sys.argv[2:]]
from m0core.cli.main import main
main()
'''


@pytest.mark.parametrize("module", ["click", "numpy", "_posixsubprocess"])
def test_ctrl_c_while_m0_starts_is_one_line(module, vod, tmp_path):
    """Ctrl-C while ``m0`` imports its modules, before the command runs: click's import was
    the console script's own (``from m0core.cli.main import main``), and Ctrl-C there ended
    m0 with a traceback through click's modules. It is one line and exit code 130 now, as
    later (numpy's, once the command runs, always was). One while ``subprocess`` was half
    imported (its ``_posixsubprocess``) said 'Error: unexpected AttributeError: partially
    initialized module 'subprocess' has no attribute 'Popen'', exit code 1."""
    env, _ = tagged_env()
    run = subprocess.run([sys.executable, "-c", _STARTING, module, "analyze", str(vod),
                          str(tmp_path / "out")], capture_output=True, text=True, env=env,
                         timeout=60,  # SIGINT as a terminal leaves it, whatever started the tests
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 130 and lines == ["Error: interrupted"], run.stderr
    assert not (tmp_path / "out").exists()


def test_ctrl_c_stops_batch(vod, tmp_path):
    """Ctrl-C while the first jobs cut their clips. Six inputs for two workers, so that jobs
    are still to run when it comes: with three, a full suite on a loaded machine once found no
    job interrupted (the first temporary file seen may have been the last jobs' last output,
    the batch ending with every job done)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(6):
        shutil.copy(vod, inputs / f"vod{i}.mp4")
    out = tmp_path / "out"
    env, tag = tagged_env()
    proc = m0_popen("batch", str(inputs), str(out), "--workers", "2", "--cut", "accurate",
                    env=env)
    wait_for(lambda: cutting_clips(out), 120, "clips being cut")
    os.killpg(proc.pid, signal.SIGINT)
    stderr, took = _finish(proc)
    assert proc.returncode == 130 and "run the same command again to resume" in stderr, stderr
    assert "Traceback" not in stderr and took < 15
    assert not wait_gone(tag, 10)
    with Ledger(out / LEDGER_FILE) as ledger:
        rows = ledger.rows()
    statuses = [(r.status, r.error) for r in rows]
    assert "interrupted" in [r.status for r in rows], statuses
    assert {r.status for r in rows} <= {"interrupted", "completed", "pending"}, statuses
    assert not list(out.rglob(".partial-*")) and not list(out.rglob("*.tmp"))
    for row in rows:
        if row.status != "completed":
            assert not list(Path(row.out_dir).glob("*.mp4"))


# -- a plugin raising mid-stream -------------------------------------------------------------

FIRE = 'plugin "m0-slow" (analyzer "slow", from m0-slow 1.0): RuntimeError: sensor on fire'


@pytest.mark.parametrize("where", ["analyze", "analyze, segment workers", "batch"])
def test_plugin_raising_mid_stream_is_named(where, wav, long_wav, fake_dist, tmp_path):
    env = dict(fake_dist("m0-slow", SLOW), M0_FAIL_AT="3")
    out = tmp_path / "out"
    if where == "batch":
        run = run_m0("batch", str(wav), str(out), "--analyzer", "slow", "--json", env=env)
        [job] = json.loads(run.stdout)["jobs"]
        assert run.returncode == 1 and job["status"] == "failed"
        assert FIRE in job["error"]
        return
    media, jobs = (wav, "0") if where == "analyze" else (long_wav, "2")
    run = run_m0("analyze", str(media), str(out), "--analyzer", "slow", "--jobs", jobs, env=env)
    assert_one_error_line(run, FIRE)
    assert files(out) == []


#: A plugin whose import meets Ctrl-C inside code Python compiles (as a dataclass's or a named
#: tuple's is), then goes on importing a while, as numpy's does.
_CTRL_C_IN_COMPILED = '''
import os, signal, time
exec("os.kill(os.getpid(), signal.SIGINT)\\nfor _ in range(100000): pass")
time.sleep(0.2)
'''


def test_ctrl_c_inside_an_import_is_one_line_and_130(vod, fake_dist, tmp_path):
    """``python -m m0core`` stopped by Ctrl-C while it imported its modules (about 2 in 16
    runs of ``m0 demo`` interrupted in its first second) printed 'Error: interrupted' and then
    died by SIGINT (return code -2): the interrupt was raised inside code a dataclass compiles,
    and Python noted it as one nobody caught. A stop that comes inside an import waits for the
    import's end; the command ends with one line and exit code 130."""
    env = fake_dist("m0-ctrl-c", _CTRL_C_IN_COMPILED)
    run = subprocess.run([sys.executable, "-m", "m0core", "analyze", str(vod),
                          str(tmp_path / "out")], capture_output=True, text=True, env=env,
                         timeout=60, preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                      signal.SIG_DFL))
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 130 and lines == ["Error: interrupted"], (run.returncode,
                                                                      run.stderr)
    assert not (tmp_path / "out").exists()
