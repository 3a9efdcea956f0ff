"""Run a command and measure its wall time and the peak RSS of its largest process."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Measurement:
    """Wall seconds and the peak resident memory (MB) of the largest process of a run."""

    seconds: float
    peak_mb: float


def run(cmd: list[str], env: dict[str, str] | None = None, interval: float = 0.01) -> Measurement:
    """Run ``cmd`` to completion, sampling the RSS of it and its descendants; fail loudly if
    it fails.

    The peak is that of the largest single process (m0's Python process or its ffmpeg), read
    every ``interval`` seconds. (``wait4``'s ``ru_maxrss`` cannot be used: a forked child
    inherits the parent's high-water mark across ``exec``, so it would report at least this
    benchmark process's own size.)
    """
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peaks: dict[int, int] = {}
    root = psutil.Process(proc.pid)
    with ThreadPoolExecutor(1) as pool:
        err_future = pool.submit(proc.stderr.read)
        while proc.poll() is None:
            _sample(root, peaks)
            time.sleep(interval)
        seconds = time.perf_counter() - started
        err = err_future.result().decode("utf-8", "replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark command failed ({proc.returncode}): {cmd}\n{err}")
    return Measurement(seconds, max(peaks.values(), default=0) / 2**20)


def _sample(root: psutil.Process, peaks: dict[int, int]) -> None:
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for p in procs:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            continue
        peaks[p.pid] = max(peaks.get(p.pid, 0), rss)


def best_of(repeat: int, cmd: list[str], env: dict[str, str] | None = None) -> Measurement:
    """The fastest of ``repeat`` runs (the least disturbed by the rest of the machine), with
    the median peak memory."""
    runs = [run(cmd, env) for _ in range(repeat)]
    return Measurement(min(r.seconds for r in runs), statistics.median(r.peak_mb for r in runs))


def m0(*args: str) -> list[str]:
    """The command line of the m0 CLI run by this Python."""
    return [sys.executable, "-m", "m0core", *args]


def ffmpeg(*args: str) -> list[str]:
    """The command line of the ffmpeg m0 uses."""
    from m0core.ffmpeg import ffmpeg_exe

    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
