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
    """Wall seconds, the peak resident memory (MB) of the largest process of a run and the
    CPU seconds the whole machine was busy meanwhile (on a quiet machine: the run's processes
    and all their descendants, fork servers included)."""

    seconds: float
    peak_mb: float
    cpu: float = 0.0
    #: The peak of the process started itself (m0's own process, not its workers).
    main_mb: float = 0.0

    @property
    def cores(self) -> float:
        """How many cores the run kept busy on average."""
        return self.cpu / self.seconds if self.seconds else 0.0


def run(cmd: list[str], env: dict[str, str] | None = None, interval: float = 0.01,
        memory: bool = False) -> Measurement:
    """Run ``cmd`` to completion; fail loudly if it fails. With ``memory``, sample the RSS of
    it and its descendants (the peaks are 0 otherwise).

    The peak is that of the largest single process (m0's Python process or its ffmpeg), read
    every ``interval`` seconds. (``wait4``'s ``ru_maxrss`` cannot be used: a forked child
    inherits the parent's high-water mark across ``exec``, so it would report at least this
    benchmark process's own size.) Sampling costs CPU (reading ``/proc`` for every process, a
    hundred times a second): on two cores it slowed m0's default by about 0.3 s and the
    one-process bare loop by 0.15 s on the 1 h VOD, so a run that is timed is not sampled.
    """
    cpu_before = _busy_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peaks: dict[int, int] = {}
    root = psutil.Process(proc.pid)
    with ThreadPoolExecutor(1) as pool:
        err_future = pool.submit(proc.stderr.read)
        while memory and proc.poll() is None:
            _sample(root, peaks)
            time.sleep(interval)
        proc.wait()
        seconds = time.perf_counter() - started
        err = err_future.result().decode("utf-8", "replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark command failed ({proc.returncode}): {cmd}\n{err}")
    return Measurement(seconds, max(peaks.values(), default=0) / 2**20,
                       _busy_cpu() - cpu_before, peaks.get(proc.pid, 0) / 2**20)


def _busy_cpu() -> float:
    """CPU seconds all cores of the machine have been busy since boot."""
    times = psutil.cpu_times()._asdict()
    return sum(times.get(k, 0.0) for k in ("user", "nice", "system", "irq", "softirq"))


def at_once(cmds: list[list[str]], jobs: int) -> float:
    """Wall seconds to run ``cmds``, ``jobs`` at a time (each must succeed): how far this
    machine's cores scale for a given kind of work, measured beside what uses them."""
    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        for done in pool.map(lambda cmd: subprocess.run(cmd, capture_output=True), cmds):
            if done.returncode != 0:
                raise RuntimeError(f"benchmark command failed: {done.args}\n{done.stderr!r}")
    return time.perf_counter() - started


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
    return _fastest([run(cmd, env) for _ in range(repeat)])


def in_turns(repeat: int, cmd: list[str], reference: list[str]) -> tuple[Measurement, float]:
    """``cmd`` and ``reference`` run ``repeat`` times in turns, each pair back to back, so a
    change in the machine's load touches both alike: ``cmd``'s fastest run (as
    :func:`best_of`) and the median of the pairs' ratios of wall time (``cmd`` ÷
    ``reference``) — on a shared machine, the steadier figure of the two."""
    runs = pairs(repeat, cmd, reference)
    ratio = statistics.median(mine.seconds / theirs.seconds for mine, theirs in runs)
    return _fastest([mine for mine, _ in runs]), ratio


def pairs(repeat: int, cmd: list[str], reference: list[str]
          ) -> list[tuple[Measurement, Measurement]]:
    """``repeat`` pairs of runs, ``cmd`` then ``reference`` back to back."""
    return [(run(cmd), run(reference)) for _ in range(repeat)]


def _fastest(runs: list[Measurement]) -> Measurement:
    fastest = min(runs, key=lambda r: r.seconds)
    return Measurement(fastest.seconds, statistics.median(r.peak_mb for r in runs), fastest.cpu)


def medians_in_turns(repeat: int, cmds: dict[str, list[str]],
                     env: dict[str, str] | None = None) -> dict[str, float]:
    """The median wall seconds of each of ``cmds`` (by label), run ``repeat`` times in turns
    (A B A B …, so a change in the machine's load touches each alike); for commands of a few
    tenths of a second, where one lucky run would say little. Each must succeed."""
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(repeat):
        for label, cmd in cmds.items():
            started = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True)
            times[label].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.decode()[-2000:]}")
    return {label: statistics.median(t) for label, t in times.items()}


def m0(*args: str) -> list[str]:
    """The command line of the m0 CLI run by this Python."""
    return [sys.executable, "-m", "m0core", *args]


def ffmpeg(*args: str) -> list[str]:
    """The command line of the ffmpeg m0 uses."""
    from m0core.media.ffmpeg import ffmpeg_exe

    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
