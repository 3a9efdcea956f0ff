"""The benchmark suites. Each returns a :class:`Table`; ratios are against a reference
measured in the same run (ffmpeg's own decode of the same file is the floor)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

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


def cut_modes(minutes: float, clips: int, repeat: int) -> Table:
    """``copy`` vs ``accurate`` vs ``smart``: cutting ``clips`` 30 s clips of a 720p VOD.

    The windows start mid-GOP, spread over the file; each mode runs the ffmpeg encoder plugin
    in-process with one worker per core; best of ``repeat``.
    """
    import os
    import time
    from pathlib import Path

    from m0_plugins.ffmpeg_encoder import FFmpegEncoder

    from m0core.ffmpeg import probe
    from m0core.model import Highlight

    vod = probe(media.vod(minutes))
    step = (vod.duration - 40) / clips
    windows = [(7.3 + i * step, 37.3 + i * step) for i in range(clips)]
    table = Table(f"Cutting {clips} clips of 30 s from a {minutes:g} min 720p VOD",
                  ["--cut", "seconds", "s per clip", "× copy", "accurate ÷ this"])
    seconds: dict[str, float] = {}
    for mode in ("copy", "accurate", "smart"):
        best = float("inf")
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as out:
                began = time.perf_counter()
                with FFmpegEncoder(vod, Path(out), workers=os.cpu_count(), cut=mode) as enc:
                    futures = [enc.submit(Highlight(a, b, a + 20, -6.0, 3.0, index=i + 1))
                               for i, (a, b) in enumerate(windows)]
                    assert all(f.result().ok for f in futures), mode
                best = min(best, time.perf_counter() - began)
        seconds[mode] = best
    for mode, s in seconds.items():
        table.rows.append([mode, f"{s:.2f}", f"{s / clips:.2f}", f"{s / seconds['copy']:.1f}",
                           f"{seconds['accurate'] / s:.1f}×"])
    table.notes.append(f"best of {repeat}; {os.cpu_count()} parallel ffmpeg processes; "
                       "smart = re-encode the partial GOPs at both ends, copy the rest")
    return table
