"""Ctrl-C and SIGTERM at any moment of a run: a sweep of delays across the measured length of an
uninterrupted run (probing, decoding in segment workers or whole, selecting, several ffmpeg
cutting clips, the report and highlights.json written; a batch's jobs and the moments between
them). At every delay: exit code 130 with one ``Error: interrupted…`` line, or the run's own
code when the signal came after its work was done; no process left; no half-written file; and
a rerun of the same command completes with the highlights of an uninterrupted run.

Elsewhere, one chosen moment each: ``test_faults.py`` (segments decoding while a clip is cut,
a batch cutting clips, m0 starting), ``test_reruns.py`` (a rerun into a finished folder)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_m0, sweep
from helpers import TEMP_MARKS, files
from procs import catches, m0_popen, tagged_env, wait_for, wait_gone
from test_faults import _STARTING

from m0core.media.ffmpeg import probe

#: Where the schedule of delays starts. The first signal itself comes as soon as m0's own
#: handlers are in place (:func:`procs.catches`: Python alone leaves SIGTERM's default):
#: before, Python itself starts (its ``site``, then ``m0``'s first imports), where no
#: program's own handler can be yet, and on a loaded machine that took longer than 0.3 s.
FIRST = 0.3


@pytest.fixture(scope="module")
def eleven_minutes(make_media) -> Path:
    """11 minutes of tiny video (two segments for the decoding workers) with four loud
    moments, cheap to cut."""
    return make_media(
        "sweep_11min.mp4", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=5:duration=660",
        "-f", "lavfi", "-i", "anoisesrc=a=0.02:d=660:r=16000,volume='1+25*(between(t,20,22)"
        "+between(t,200,202)+between(t,400,402)+between(t,610,612))':eval=frame",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac", "-ac", "1",
        "-shortest")


def _highlights(out: Path) -> dict[str, list]:
    """Each highlights.json under ``out`` (a batch's one per job): its highlights."""
    return {str(p.relative_to(out)): json.loads(p.read_text())["highlights"]
            for p in sorted(out.rglob("highlights.json"))}


def _clip_lengths(out: Path) -> dict[str, float]:
    return {str(p.relative_to(out)): probe(p).duration for p in sorted(out.rglob("*.mp4"))}


def _assert_whole(out: Path, lengths: dict[str, float], when: str) -> None:
    """No temporary file under ``out``; every JSON parses; every clip there probes, as long as
    the uninterrupted run's clip of that name."""
    for name in files(out):
        path = out / name
        assert not any(m in name for m in TEMP_MARKS) and not name.endswith(".tmp"), (when, name)
        assert not any(part.startswith(".m0-run-") for part in Path(name).parts), (when, name)
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".mp4":
            assert name in lengths, (when, name)
            assert probe(path).duration == pytest.approx(lengths[name], abs=0.1), (when, name)
        elif path.suffix == ".html":
            assert path.read_text().rstrip().endswith("</html>"), (when, name)


CASES = {  # what runs, how many delays
    "analyze: segments, 4 clip workers": (["analyze", "{long}", "{out}", "-l", "10",
                                           "--workers", "4", "--jobs", "2"], 5),
    "analyze --no-streaming": (["analyze", "{vod}", "{out}", "-l", "10", "--workers", "2",
                                "--no-streaming", "-f", "csv"], 4),
    "batch --workers 2": (["batch", "{inputs}", "{out}", "-l", "10", "--workers", "2"], 4),
}


@pytest.mark.slow  # 45 s in all: the slow tier (pytest -m slow), which CI runs too
@pytest.mark.parametrize("case", CASES)
def test_a_signal_at_any_moment_stops_cleanly_and_a_rerun_completes(case, eleven_minutes, vod,
                                                                    tmp_path):
    args, count = CASES[case]
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):
        shutil.copy(vod, inputs / f"vod{i}.mp4")

    def command(out: Path) -> list[str]:
        return [a.format(long=eleven_minutes, vod=vod, inputs=inputs, out=out) for a in args]

    reference = tmp_path / "reference"
    for cold in (True, False):  # the length of the second: the first pays for a cold start
        shutil.rmtree(reference, ignore_errors=True)
        began = time.monotonic()
        run = run_m0(*command(reference), env=dict(os.environ,
                                                   M0_CACHE_DIR=str(tmp_path / f"c0{cold}")))
        length = time.monotonic() - began
        assert run.returncode == 0, run.stderr
    lengths, highlights = _clip_lengths(reference), _highlights(reference)
    assert lengths and highlights

    stopped = 0
    for i in range(count):
        delay = FIRST + (length * 1.1 - FIRST) * i / (count - 1)
        signum = (signal.SIGINT, signal.SIGTERM)[i % 2]  # Ctrl-C: the group; SIGTERM: m0
        when = f"{signal.Signals(signum).name} at {delay:.2f} s of {length:.2f} s" if i else \
            f"{signal.Signals(signum).name} as m0's handlers were set, a run of {length:.2f} s"
        out = tmp_path / f"out{i}"
        # an own cache each: what the stopped run left there is what its rerun reads
        env, tag = tagged_env(dict(os.environ, M0_CACHE_DIR=str(tmp_path / f"c{i + 1}")))
        proc = m0_popen(*command(out), env=env)
        if i:
            time.sleep(delay)
        else:
            wait_for(lambda p=proc: p.poll() is not None or catches(p.pid, signal.SIGTERM),
                     30, "m0's own signal handlers")
        if proc.poll() is None:
            if signum == signal.SIGINT:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
        try:
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert "Traceback" not in stderr, (when, stderr)
        if proc.returncode == 130:
            stopped += 1
            assert stderr.strip().splitlines()[-1].startswith("Error: interrupted"), \
                (when, stderr)
        else:  # the signal came after its work was done: the run's own end
            assert proc.returncode == 0, (when, proc.returncode, stderr)
            assert _highlights(out) == highlights, when
        assert not wait_gone(tag, 10), (when, "processes left")
        _assert_whole(out, lengths, when)

        rerun = subprocess.run(proc.args, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, (when, rerun.stderr)
        assert _highlights(out) == highlights, when
        _assert_whole(out, lengths, f"{when}, rerun")
        assert sorted(_clip_lengths(out)) == sorted(lengths), when
    assert stopped >= count // 2, "the runs ended before most signals came"


@pytest.mark.parametrize("signum", sweep([signal.SIGINT, signal.SIGTERM], {signal.SIGINT}),
                         ids=["ctrl-c", "sigterm"])
def test_a_signal_as_the_run_ends_is_never_its_death(signum, vod, tmp_path):
    """Ctrl-C or SIGTERM as m0 analyze ends, its outputs written and its summary said: Python,
    tearing its modules down (0.05-0.3 s), had put back the signal's default action, and m0
    died by it (exit code -2 or -15, nothing said) after a run that had done all its work.
    It exits with the run's code (0), or 130 and its line if the signal came before its end;
    its outputs stay whole either way."""
    for delay in (0.0, 0.03, 0.08, 0.15):
        out = tmp_path / f"out{delay}"
        env, tag = tagged_env()
        proc = m0_popen("analyze", str(vod), str(out), "-l", "10", "--no-report", env=env)
        said = proc.stdout.readline()
        assert "highlights in" in said, said
        time.sleep(delay)
        os.killpg(proc.pid, signum)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode in (0, 130) and "Traceback" not in stderr, \
            (delay, proc.returncode, stderr)
        if proc.returncode == 130:
            assert stderr.strip().splitlines()[-1].startswith("Error: interrupted"), stderr
        assert not wait_gone(tag, 10)
        assert len(_highlights(out)["highlights.json"]) == len(_clip_lengths(out)) == 2


#: The ffmpeg encoder, whose stop (``close(cancel=True)``) makes the file M0_CLOSING and takes
#: a second more, as a stop of ffmpeg processes on a loaded machine may.
SLOW_STOP = '''
import os, time
from m0core import hookimpl
from m0_plugins.ffmpeg_encoder.encoder import FFmpegEncoder

class SlowStop(FFmpegEncoder):
    def close(self, cancel=False):
        if cancel:
            open(os.environ["M0_CLOSING"], "a").close()
            time.sleep(1)
        super().close(cancel=cancel)

@hookimpl
def m0_register_encoders(register):
    register("slow-stop", SlowStop)
'''


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_second_signal_while_m0_stops_leaves_nothing(signum, vod, fake_dist, tmp_path):
    """Ctrl-C pressed again (or SIGTERM sent again) while m0 stops its clips' ffmpeg after the
    first: the stop was cut short, and the run's private folder (``.m0-run-…``, the clips cut
    so far in it) was left in an output folder that was to be removed. The second waits for
    the stop to end: one line, 130, nothing left."""
    closing = tmp_path / "closing"
    env, tag = tagged_env(dict(fake_dist("m0-slow-stop", SLOW_STOP), M0_CLOSING=str(closing)))
    out = tmp_path / "out"
    proc = m0_popen("analyze", str(vod), str(out), "-l", "10", "--encoder", "slow-stop",
                    "--cut", "accurate", env=env)
    wait_for(lambda: any(out.glob(".m0-run-*/*.mp4")), 60, "a clip being cut")

    def stop() -> None:
        os.killpg(proc.pid, signum) if signum == signal.SIGINT else proc.send_signal(signum)

    stop()
    wait_for(closing.exists, 30, "m0 stopping its clips")
    stop()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "Error: interrupted", stderr
    assert not wait_gone(tag, 10)
    assert files(out) == [] and not out.exists()


#: An object Python drops as it tears its modules down, 0.1 s later (as numpy's take a while).
_SLOW_END = """
import time
class SlowEnd:
    def __del__(self):
        time.sleep(0.1)
slow_end = SlowEnd()
"""


def test_a_stop_put_off_past_the_commands_end_leaves_its_exit_code(tmp_path):
    """Ctrl-C as ``m0 --version`` imported m0's version module: a stop inside an import is put
    off (tried again 0.02 s later), the command printed the version and ended before that, and
    the retry, left armed, killed m0 by SIGALRM as Python tore its modules down (exit code
    -14, 'Alarm clock'). It ends with the command's code."""
    env, tag = tagged_env()
    run = subprocess.run([sys.executable, "-c", _SLOW_END + _STARTING, "m0core.version",
                          "--version"],
                         capture_output=True, text=True, env=env, timeout=60,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert run.returncode in (0, 130), (run.returncode, run.stderr)
    if run.returncode == 0:
        assert run.stdout.startswith("m0, version") and run.stderr == "", run.stderr
    else:
        assert run.stderr.strip().splitlines() == ["Error: interrupted"], run.stderr
    assert not wait_gone(tag, 10)


#: m0's entry point run with a stop (SIGTERM, taken as Ctrl-C) sent to itself as the command
#: has ended and m0 blocks the stops: the handler runs as the first function of that step starts.
STOP_AS_IT_ENDS = '''
import os, signal, sys
from m0core.cli import main as entry

real, sent = entry._block_stops, []

def late(*args):
    if not sent:
        sent.append(signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
    return real(*args)

entry._block_stops = late
entry.main(["--version"])
'''


def test_a_stop_as_the_command_ends_leaves_its_exit_code():
    """A stop that came after the command ended, before m0 had blocked the stops (the sweep
    above met it once in a full run of the suite: exit code -2, a KeyboardInterrupt's
    traceback): the command's exit code stands, nothing is said of it."""
    run = subprocess.run([sys.executable, "-c", STOP_AS_IT_ENDS], capture_output=True,
                         text=True, timeout=60)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr
    assert run.stdout.startswith("m0")


def _ctrl_c_until_it_ends(proc: subprocess.Popen, every: float) -> int:
    """Send ``proc`` SIGINT every ``every`` seconds until it has ended; how many were sent."""
    sent = 0
    while proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
            sent += 1
        time.sleep(every)
    return sent


#: m0's entry point in a process with a thread of its own still there at exit (a daemon
#: thread, as a plugin or a host program may leave): ``analyze`` of the file given.
WITH_A_THREAD = '''
import sys, threading, time
from m0core.cli.main import main

threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
main(["analyze", sys.argv[1], sys.argv[2], "-l", "10", "--no-report"])
'''


def test_ctrl_c_as_python_ends_never_kills_m0_through_another_thread(vod, tmp_path):
    """Ctrl-C after the run's summary, again and again until m0 has ended, with a daemon
    thread still there: blocked in the main thread, a stop that came as Python tore its
    modules down (their default action put back) went to that thread and killed m0 (exit
    code -2, nothing said; every run did, and a run of the suite met it once). It ends with
    the run's code or 130 and its line, and its outputs are whole."""
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        env, tag = tagged_env()
        proc = subprocess.Popen([sys.executable, "-c", WITH_A_THREAD, str(vod), str(out)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        said = proc.stdout.readline()
        assert "highlights in" in said, said
        sent = _ctrl_c_until_it_ends(proc, 0.002)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode in (0, 130) and "Traceback" not in stderr, \
            (attempt, sent, proc.returncode, stderr)
        if proc.returncode == 130:
            assert stderr.strip().splitlines()[-1].startswith("Error: interrupted"), stderr
        assert not wait_gone(tag, 10)
        assert len(_highlights(out)["highlights.json"]) == len(_clip_lengths(out)) == 2


#: m0 setting its stops ignored again and again (:func:`m0core.stops.ignore`, as it does when a
#: command ends), a daemon thread there to take a signal the main thread has blocked; then an
#: exception ignored of another kind, which must still be said. Prints how many times it did.
IGNORE_AGAIN_AND_AGAIN = '''
import signal, sys, threading, time
from m0core import stops

threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
stops.ignore((signal.SIGINT,))
print("ready", flush=True)
times, end = 0, time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    stops.ignore((signal.SIGINT,))
    times += 1

class Said:
    def __del__(self):
        raise RuntimeError("said still")

Said()
print(times, flush=True)
'''


def test_a_stop_that_races_m0_ignoring_it_is_dropped_without_a_word():
    """Ctrl-C reaching another thread just as the main one sets it ignored (after Python ran
    what was pending, before the handler changed) stayed pending with no handler: Python
    printed it as an exception ignored, a traceback ending 'OSError: Signal 2 ignored due to
    race condition' (the thread test above met it once in CI, exit code 0; without m0's hook
    this loop met it hundreds of times in 2 s). It is dropped; any other exception ignored is
    still said."""
    proc = subprocess.Popen([sys.executable, "-c", IGNORE_AGAIN_AND_AGAIN, "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    sent = _ctrl_c_until_it_ends(proc, 0.0002)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0 and sent > 100 and int(stdout) > 100, (sent, stdout, stderr)
    assert "race condition" not in stderr, stderr
    assert stderr.count("Traceback") == 1 and "RuntimeError: said still" in stderr, stderr


#: A stop that came inside an import (put off, :func:`m0core.stops.put_off`, as m0's handler
#: does) whose retry comes during a block that holds the stops. Prints what ran.
PUT_OFF_THEN_HELD = '''
import signal, sys, time
from m0core import stops

def stop(signum, frame):
    if stops.put_off(signum, frame, stop):
        return
    raise KeyboardInterrupt

sys.path.insert(0, sys.argv[1])
with open(sys.argv[1] + "/stopped_here.py", "w") as module:
    module.write("import signal, sys; sys.modules['__main__'].stop(signal.SIGINT, sys._getframe())")
ran = []
try:
    import stopped_here  # the stop is put off: it comes again 0.02 s later, by SIGALRM
    with stops.held_signals():
        time.sleep(0.3)
        ran.append("block")
    time.sleep(1)
    ran.append("not stopped")
except KeyboardInterrupt:
    ran.append("stopped")
print(" ".join(ran))
'''


def test_a_stop_put_off_is_held_by_a_block_that_holds_the_stops(tmp_path):
    """A Ctrl-C inside an import is put off and tried again by SIGALRM; a block that holds the
    stops (starting a clip's thread, publishing the outputs) did not hold that retry, which
    raised the stop inside it. The block ends, then the stop comes."""
    run = subprocess.run([sys.executable, "-c", PUT_OFF_THEN_HELD, str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert (run.stdout, run.stderr, run.returncode) == ("block stopped\n", "", 0)
