"""A batch's jobs forked from one process that imported m0 once (m0core.batch.forkserver):
the module imported once, each job still a process of its own that ends as one, a server that
dies or cannot fork safely leaving the batch to start each job's process afresh."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import run_m0
from procs import tagged_env, wait_gone

from m0core.batch import executors, forkserver

pytestmark = pytest.mark.skipif(not forkserver.available(), reason="Linux only")

JOBS = '''
import os, signal, sys, threading, time
from pathlib import Path

here = Path(__file__).parent
with open(here / "imports.txt", "a") as fh:  # one line a process that imports this module
    fh.write(f"{os.getpid()}\\n")
if os.environ.get("HANG_IN_THE_SERVER") and "forkserver" in sys.argv[0]:
    time.sleep(60)
if os.environ.get("START_A_THREAD"):
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()


def job(spec, report=None):
    """What the job's process is: its pid, its parent's, its process group."""
    if spec.get("kill_server"):
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(30)  # the server's death ends this process too
    if spec.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0)}
'''


@pytest.fixture
def jobs(tmp_path, monkeypatch):
    """The module above, importable here and in the jobs' processes; ``(job, imports)``:
    its job function and the pids of the processes that imported it."""
    (tmp_path / "forkjobs.py").write_text(textwrap.dedent(JOBS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p))
    env, tag = tagged_env()
    monkeypatch.setenv("M0_TEST_TAG", tag)
    sys.modules.pop("forkjobs", None)
    import forkjobs

    imports = tmp_path / "imports.txt"
    imports.unlink()  # this process's own import
    yield forkjobs.job, imports
    sys.modules.pop("forkjobs", None)
    assert not wait_gone(tag, timeout=10), "a process of the batch was left running"


def _run(job, specs: list[dict], workers: int = 2) -> list[tuple]:
    events: list[tuple] = []
    executors.ProcessExecutor(workers).map(job, specs, lambda *event: events.append(event))
    return events


def _done(events: list[tuple]) -> dict[str, dict]:
    return {job_id: payload for kind, job_id, payload in events if kind == "done"}


def test_a_batchs_jobs_import_its_module_once_each_in_a_process_of_its_own(jobs):
    job, imports = jobs
    events = _run(job, [{"job_id": str(i)} for i in range(5)])
    done = _done(events)
    assert sorted(done) == ["0", "1", "2", "3", "4"], events
    importers = imports.read_text().split()
    assert len(importers) == 1, importers  # the server's import; no job imported it again
    server = int(importers[0])
    pids = {result["pid"] for result in done.values()}
    assert len(pids) == 5 and server not in pids and os.getpid() not in pids
    for result in done.values():  # forked by the server, each leading a group of its own
        assert result["ppid"] == server and result["pgid"] == result["pid"]


def test_one_job_is_a_process_started_afresh(jobs):
    job, imports = jobs
    done = _done(_run(job, [{"job_id": "only"}]))
    assert done["only"]["ppid"] == os.getpid()
    assert imports.read_text().split() == [str(done["only"]["pid"])]


def test_a_forked_job_killed_by_a_signal_fails_alone_and_says_which(jobs):
    job, _ = jobs
    events = _run(job, [{"job_id": "a"}, {"job_id": "b", "die": True}, {"job_id": "c"}])
    assert sorted(_done(events)) == ["a", "c"]
    lost = [(job_id, payload) for kind, job_id, payload in events if kind == "lost"]
    assert lost == [("b", ("failed", "the job's process was killed by SIGKILL "
                                     "(out of memory?)", False))]


def test_a_server_that_dies_leaves_the_batch_to_start_the_next_jobs_afresh(jobs):
    """Its running job is lost with it (killed, its group too); the batch goes on."""
    job, imports = jobs
    specs = [{"job_id": "a", "kill_server": True}, {"job_id": "b"}, {"job_id": "c"}]
    events = _run(job, specs, workers=1)
    done = _done(events)
    assert sorted(done) == ["b", "c"], events
    lost = [(job_id, payload) for kind, job_id, payload in events if kind == "lost"]
    assert lost == [("a", ("failed", executors.ORPHANED, False))]
    for job_id in ("b", "c"):
        assert done[job_id]["ppid"] == os.getpid()  # started afresh
    assert len(imports.read_text().split()) == 3  # the server, then b and c each


def test_a_module_that_starts_a_thread_is_never_forked_from(jobs, monkeypatch):
    """A fork copies only the thread that forks, with every lock another thread held: the
    server does not fork once its imports started a thread, and the jobs start afresh."""
    job, imports = jobs
    monkeypatch.setenv("START_A_THREAD", "1")
    done = _done(_run(job, [{"job_id": "a"}, {"job_id": "b"}]))
    assert sorted(done) == ["a", "b"]
    assert {result["ppid"] for result in done.values()} == {os.getpid()}
    assert len(imports.read_text().split()) == 3


def test_a_server_whose_imports_hang_is_killed_and_the_jobs_start_afresh(jobs, monkeypatch):
    job, imports = jobs
    monkeypatch.setenv("HANG_IN_THE_SERVER", "1")
    monkeypatch.setattr(forkserver, "READY_WAIT", 2.0)
    done = _done(_run(job, [{"job_id": "a"}, {"job_id": "b"}, {"job_id": "c"}]))
    assert sorted(done) == ["a", "b", "c"]
    assert {result["ppid"] for result in done.values()} == {os.getpid()}
    assert len(imports.read_text().split()) == 4  # the server (which never got past it), a, b, c


def test_a_killed_server_takes_its_jobs_with_it(jobs):
    """The batch gone (its server killed the same way), a forked job's process ends too: the
    fixture finds nothing of the batch left running."""
    server = forkserver.ForkServer("forkjobs")
    assert server.ready()
    child = server.fork()
    try:
        assert child is not None
        os.kill(server.proc.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL and child.orphaned
        assert server.fork() is None  # gone: the batch starts its next job afresh
    finally:
        server.close()
        if child is not None:
            child.stdin.close()
            child.stdout.close()


LOUD_IMPORT = '''
import os
from m0core import hookimpl

with open(os.environ["IMPORTED_FILE"], "a") as fh:
    fh.write(f"{os.getpid()}\\n")


@hookimpl
def m0_register_analyzers(register):
    pass
'''


def test_a_disabled_plugin_is_not_imported_where_jobs_are_forked(wav, tmp_path, fake_dist):
    env = fake_dist("m0-loud-import", LOUD_IMPORT)
    imported = tmp_path / "imported.txt"
    env["IMPORTED_FILE"] = str(imported)
    inputs = [tmp_path / f"in{i}.wav" for i in range(3)]
    for path in inputs:
        shutil.copy(wav, path)
    run = run_m0("batch", *map(str, inputs), str(tmp_path / "on"), "--no-clips", "--no-report",
                 env=env)
    assert run.returncode == 0, run.stderr
    assert len(imported.read_text().split()) == 2  # the batch's own process and the server's
    imported.unlink()
    run = run_m0("--disable-plugin", "m0-loud-import", "batch", *map(str, inputs),
                 str(tmp_path / "off"), "--no-clips", "--no-report", env=env)
    assert run.returncode == 0, run.stderr
    assert not imported.exists()


CHATTY = '''
from m0core import hookimpl

print("a word from a plugin as it is imported")


@hookimpl
def m0_register_analyzers(register):
    pass
'''


def test_what_a_plugin_prints_where_jobs_are_forked_is_not_in_the_callers_output(
        wav, tmp_path, fake_dist):
    """A job's process points its standard output at its stderr before it imports anything;
    the server it is forked from does too, so a script's output holds only its own prints
    (here: the plugin's line once, from the script's own import of it)."""
    env = fake_dist("m0-chatty", CHATTY)
    inputs = [tmp_path / f"in{i}.wav" for i in range(3)]
    for path in inputs:
        shutil.copy(wav, path)
    script = ("import sys\n"
              "from m0core import BatchJob, BatchProcessor\n"
              "jobs = [BatchJob(p, sys.argv[-1] + '/' + str(i), clips=False)\n"
              "        for i, p in enumerate(sys.argv[1:-1])]\n"
              "results = BatchProcessor(max_workers=2).process_batch(jobs)\n"
              "print(sorted(r['status'] for r in results.values()))\n")
    run = subprocess.run([sys.executable, "-c", script, *map(str, inputs), str(tmp_path / "out")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["a word from a plugin as it is imported",
                                       "['completed', 'completed', 'completed']"], run.stdout
