"""The benchmark suites. Each returns a :class:`Table`; ratios are against a reference
measured in the same run (ffmpeg's own decode of the same file is the floor)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from m0core import synth

from . import media
from .measure import best_of, ffmpeg, m0, run


@dataclass
class Table:
    """A result table for the console and docs/benchmarks.md."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def analysis_speed(minutes: float, repeat: int) -> Table:
    """``m0 analyze --no-clips`` against ``ffmpeg -i VOD -map 0:a -f null -``."""
    vod = media.vod(minutes)
    table = Table(
        f"Analysis time, {minutes:g} min 720p VOD",
        ["command", "seconds", "× ffmpeg decode", "× real time"],
    )
    floor = best_of(repeat, ffmpeg("-i", str(vod), "-map", "0:a", "-f", "null", "-"))
    cases = [("ffmpeg -i VOD -map 0:a -f null - (floor)", None)]
    cases += [("m0 analyze --no-clips (rms-streaming)", ["--streaming"]),
              ("m0 analyze --no-clips --no-streaming (rms-legacy)", ["--no-streaming"])]
    with tempfile.TemporaryDirectory() as out:
        for label, extra in cases:
            result = floor if extra is None else best_of(
                repeat, m0("analyze", str(vod), out, "--no-clips", "-q", *extra))
            table.rows.append([label, f"{result.seconds:.2f}",
                               f"{result.seconds / floor.seconds:.2f}",
                               f"{minutes * 60 / result.seconds:.0f}×"])
    table.notes.append(f"best of {repeat} runs each, process start included")
    return table


def memory(lengths: list[float]) -> Table:
    """Peak RSS of the largest process: streaming vs legacy at several lengths."""
    table = Table("Memory: peak RSS of the largest process (m0 analyze --no-clips)",
                  ["file", "rms-legacy (MB)", "rms-streaming (MB)", "saving"])
    streaming_peaks = []
    with tempfile.TemporaryDirectory() as out:
        for minutes in lengths:
            vod = media.vod(minutes)
            legacy = run(m0("analyze", str(vod), out, "--no-clips", "-q", "--no-streaming"))
            streaming = run(m0("analyze", str(vod), out, "--no-clips", "-q"))
            streaming_peaks.append(streaming.peak_mb)
            table.rows.append([f"{minutes:g} min", f"{legacy.peak_mb:.0f}",
                               f"{streaming.peak_mb:.1f}",
                               f"{100 * (1 - streaming.peak_mb / legacy.peak_mb):.1f} %"])
    spread = max(streaming_peaks) - min(streaming_peaks)
    table.notes.append(f"rms-streaming peak spread across lengths: {spread:.1f} MB")
    return table


def batch_scaling(minutes: float, count: int = 4, repeat: int = 1) -> Table:
    """``m0 batch`` of ``count`` equal VODs with ``--workers 1`` against ``--workers 2``."""
    vod = media.vod(minutes)
    table = Table(f"Batch: {count} equal {minutes:g} min 720p VODs",
                  ["command", "seconds", "speed-up"])
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        for i in range(count):
            shutil.copy(vod, inputs / f"vod{i}.mp4")
        times = {}
        for workers in (1, 2):
            runs = []
            for attempt in range(repeat):
                out = Path(tmp) / f"out{workers}-{attempt}"  # a fresh ledger: nothing skipped
                runs.append(run(m0("batch", str(inputs), str(out), "--workers", str(workers),
                                   "--no-cache", "-q")).seconds)
            times[workers] = min(runs)
            table.rows.append([f"m0 batch --workers {workers}", f"{times[workers]:.2f}",
                               f"{times[1] / times[workers]:.2f}×"])
    table.notes.append(f"best of {repeat}; --no-cache (every run decodes); clips cut by stream "
                       "copy; each job gets cores ÷ workers clip processes and segments")
    table.notes.append(_load())
    return table


def batch_many(count: int, seconds: float = 8.0) -> Table:
    """``count`` short videos through the process pool and through a Dask LocalCluster."""
    table = Table(f"Batch: {count} short videos ({seconds:g} s each), --workers 2",
                  ["executor", "seconds", "videos / s", "ledger rows completed"])
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        base = Path(tmp) / "base.mp4"
        synth.write_vod(base, seconds, size="320x240", fps=10, seed=5)
        for i in range(count):
            shutil.copy(base, inputs / f"short{i:03d}.mp4")
        for executor in ("process", "dask"):
            out = Path(tmp) / f"out-{executor}"
            took = run(m0("batch", str(inputs), str(out), "--workers", "2", "--executor",
                          executor, "-l", "4", "--no-cache", "-q")).seconds
            with sqlite3.connect(out / "m0-batch.sqlite") as db:
                done = db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'completed'")
                completed = done.fetchone()[0]
            table.rows.append([executor, f"{took:.1f}", f"{count / took:.1f}", str(completed)])
    table.notes.append("process start and (for dask) the LocalCluster's start included")
    table.notes.append(_load())
    return table


def _load() -> str:
    """The machine's load when a table was made: a shared machine skews wall-time ratios."""
    one, five, _ = os.getloadavg()
    return (f"load average at the end: {one:.1f} (1 min), {five:.1f} (5 min) "
            f"on {os.cpu_count()} cores")
