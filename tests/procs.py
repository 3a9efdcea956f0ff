"""Finding the processes a test started, wherever they were reparented, and waiting on them;
an ``m0 gui`` server in a process of its own (:class:`GuiServer`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil

from m0core.outputs import TEMP_PREFIX, WRITE_TEST_SUFFIX


def tagged_env(env: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    """An environment (``env`` or ours) whose tag every process started under it inherits."""
    tag = uuid.uuid4().hex
    return dict(env or os.environ, M0_TEST_TAG=tag), tag


def ours(tag: str) -> list[psutil.Process]:
    """Live processes carrying ``tag`` in their environment (ours, wherever reparented)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("M0_TEST_TAG") == tag and proc.status() != "zombie":
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_gone(tag: str, timeout: float = 20.0) -> list[psutil.Process]:
    """Wait until no process carries ``tag``; return those still left after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := ours(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler of its own for ``signum`` (the ``SigCgt`` mask of
    its ``/proc/PID/status``); ``False`` once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((int(line.split()[1], 16) for line in status.splitlines()
                 if line.startswith("SigCgt:")), 0)
    return bool(mask >> (int(signum) - 1) & 1)


def hangup_stops() -> None:
    """In a child about to run m0: a hangup (SIGHUP) does what it does to a command started
    from a terminal. A suite run under ``nohup`` starts with SIGHUP ignored, which every
    process inherits, and m0 rightly keeps an ignored SIGHUP ignored (``nohup m0 ...``), so
    the tests that close m0's terminal or send it SIGHUP saw it go on. Only the children are
    changed: the suite itself stays as ``nohup`` asked."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def m0_popen(*args: str, env: dict[str, str], cwd: str | None = None) -> subprocess.Popen:
    """Start the real CLI in a session (a process group) of its own, as from a terminal."""
    return subprocess.Popen([sys.executable, "-m", "m0core", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=hangup_stops)


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds. What it gave then."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def cutting_clips(out: Path) -> bool:
    """Whether a run writing into ``out`` is cutting a clip: one of m0's temporary files there
    other than the write test each output folder gets as it is prepared, which a batch makes
    before it has reached its cluster or started a job (a test that took any temporary file
    for a clip being cut killed a Dask scheduler before the batch had connected to it)."""
    return any(not p.name.endswith(WRITE_TEST_SUFFIX)
               for p in Path(out).rglob(f"{TEMP_PREFIX}*"))


def running_tasks(dask_worker) -> int:
    """On a Dask worker (``client.run(running_tasks)``): the tasks its threads are running,
    cancelled ones that still run included."""
    return len(dask_worker.state.executing)


class GuiServer:
    """``m0 gui --no-browser`` in a process of its own, tagged (:func:`tagged_env`); ``url``
    is what it printed."""

    def __init__(self, root: Path, out: Path, *args: str, env: dict | None = None) -> None:
        self.env, self.tag = tagged_env(env)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "m0core", "gui", "--root", str(root), "--out", str(out),
             "--no-browser", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.env)
        line = self.proc.stdout.readline()
        assert line.startswith("m0 gui: http://"), line + self.proc.stderr.read()
        self.url = line.split()[2]

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict | None = None) -> tuple[int, dict | str]:
        """The status and body (parsed when JSON) of a request to the server."""
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def leftovers(self) -> list[str]:
        """Every live process below the server (job processes, their ffmpeg, ...)."""
        found = []
        for p in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    found.append(" ".join(p.cmdline()[:3]))
            except psutil.Error:  # ended meanwhile
                pass
        return found

    def stop(self) -> None:
        """SIGTERM, and wait for it to end."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
