"""Finding the processes a test started, wherever they were reparented, and waiting on them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import psutil


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


def m0_popen(*args: str, env: dict[str, str], cwd: str | None = None) -> subprocess.Popen:
    """Start the real CLI in a session (a process group) of its own."""
    return subprocess.Popen([sys.executable, "-m", "m0core", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(predicate, timeout: float = 120.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def running_tasks(dask_worker) -> int:
    """On a Dask worker (``client.run(running_tasks)``): the tasks its threads are running,
    cancelled ones that still run included."""
    return len(dask_worker.state.executing)
