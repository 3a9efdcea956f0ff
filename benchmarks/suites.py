"""The benchmark suites. Each returns a :class:`Table`; ratios are against a reference
measured in the same run (ffmpeg's own decode of the same file is the floor)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from functools import cache
from pathlib import Path

from m0core.dev import synth
from m0core.pipeline.segments import MIN_SEGMENT_SECONDS, SegmentJob, plan_segments

from . import media
from .measure import (
    Measurement,
    at_once,
    best_of,
    ffmpeg,
    in_turns,
    m0,
    medians_in_turns,
    pairs,
    run,
)
from .report import Table


def _floor(vod: Path, repeat: int) -> Measurement:
    return best_of(repeat, ffmpeg("-i", str(vod), "-map", "0:a", "-f", "null", "-"))


#: The bare PyAV decode loop: demux and decode the first audio stream, nothing else, in one
#: process. m0 decodes with the same libraries, so its ratio to this holds across machines
#: (the ffmpeg program's speed moves with its build).
BARE_LOOP = ("import sys, av\n"
             "with av.open(sys.argv[1]) as c:\n"
             "    for packet in c.demux(c.streams.audio[0]):\n"
             "        for frame in packet.decode():\n"
             "            pass\n")


def _bare_cmd(vod: Path) -> list[str]:
    return [sys.executable, "-c", BARE_LOOP, str(vod)]


def _bare(vod: Path, repeat: int) -> Measurement:
    return best_of(repeat, _bare_cmd(vod))


def _segments(vod: Path, jobs: int, min_seconds: float = MIN_SEGMENT_SECONDS
              ) -> list[SegmentJob]:
    """The job of each segment m0 plans for ``vod`` with ``jobs`` (as
    :func:`m0core.pipeline.segments.plan_segments` cuts it), without the cache."""
    from m0core.options import Options
    from m0core.pipeline.plan import resolve

    plan = resolve(vod, Options(cache=False))
    return [plan.segment_job(start, length) for start, length in
            plan_segments(plan.media.duration, jobs, plan.hop, min_seconds=min_seconds)]


def _two_workers(vod: Path, repeat: int) -> float:
    """The fastest of ``repeat`` runs of two of m0's decoding workers alone, each given every
    other segment of ``vod`` (the jobs the default plans on 2 cores), at once: nothing else
    runs, so this is the floor of any run that decodes in fresh worker processes (two
    interpreters' and their libraries' start-up, then half of the decoding each)."""
    jobs = [json.dumps(asdict(replace(job, describe=False)))
            for job in _segments(vod, 2, min_seconds=1.0)]
    with tempfile.TemporaryDirectory() as folder:
        cmds = []
        for i in range(2):
            path = Path(folder, f"jobs{i}.json")
            path.write_text("".join(f"{job}\n" for job in jobs[i::2]))
            cmds.append(["sh", "-c", f'exec "{sys.executable}" -m m0core.pipeline.segments '
                                     f'< "{path}" > /dev/null'])
        return min(at_once(cmds, 2) for _ in range(repeat))


@cache
def _outputs() -> tempfile.TemporaryDirectory:
    """The folder the timed analyses write into, removed when the benchmark ends."""
    return tempfile.TemporaryDirectory(prefix="m0-benchmarks-")


def _analyze(vod: Path, *extra: str) -> list[str]:
    """``m0 analyze --no-clips`` without the cache or the report: the analysis alone, into a
    folder of its own (each run of the command replaces what the one before wrote)."""
    out = tempfile.mkdtemp(dir=_outputs().name)
    return m0("analyze", str(vod), out, "--no-clips", "-q", "--no-cache", "--no-report",
              *extra)


def decode_routes(minutes: float, repeat: int) -> Table:
    """What decoding costs by route: the ffmpeg program to a null sink in several output
    formats, and PyAV in-process (one process, no analysis)."""
    vod = media.vod(minutes)
    table = Table(f"Decode routes, {minutes:g} min 720p VOD ({media.size_gb(vod)})",
                  ["route", "seconds", "× ffmpeg -f null"])
    floor = _floor(vod, repeat)
    routes = {
        "ffmpeg -map 0:a -f null - (the floor)": None,
        "ffmpeg → f32le, all channels (m0's ffmpeg source)": ["-ac", "2"],
        "ffmpeg → f32le, -ac 1 (ffmpeg's -3 dB downmix)": ["-ac", "1"],
        "ffmpeg → f32le, pan=mono averaging filter": ["-af", "pan=mono|c0=0.5*c0+0.5*c1"],
        "ffmpeg → s16le, all channels": None,
        "ffmpeg → f32le, -ar 16000 -ac 1 (resampled)": ["-ar", "16000", "-ac", "1"],
    }
    for label, args in routes.items():
        if "floor" in label:
            result = floor
        else:
            fmt = ["-f", "s16le"] if "s16le" in label else ["-f", "f32le"]
            result = best_of(repeat, ffmpeg("-i", str(vod), "-map", "0:a:0", "-vn",
                                            *(args or []), *fmt, "-y", os.devnull))
        table.rows.append([label, f"{result.seconds:.2f}", f"{result.seconds / floor.seconds:.2f}"])
    bare = _bare(vod, repeat)
    table.rows.append(["bare PyAV loop: demux + decode, nothing else (the PyAV floor)",
                       f"{bare.seconds:.2f}", f"{bare.seconds / floor.seconds:.2f}"])
    code = ("import sys; from m0core import plugins; s = plugins.create('sources', 'pyav'); "
            "[None for _ in s.chunks(sys.argv[1])]")
    pyav = best_of(repeat, [sys.executable, "-c", code, str(vod)])
    table.rows.append(["PyAV in-process, mono float32 (m0's pyav source)",
                       f"{pyav.seconds:.2f}", f"{pyav.seconds / floor.seconds:.2f}"])
    table.notes.append(f"best of {repeat}; PyAV rows include Python start-up and imports; m0's "
                       f"pyav source is {pyav.seconds / bare.seconds:.2f}× the bare PyAV loop")
    return table


def analysis_speed(minutes: float, repeat: int, container: str = "mp4") -> Table:
    """``m0 analyze --no-clips`` against ``ffmpeg -i VOD -map 0:a -f null -`` and the bare PyAV
    loop, on the VOD in ``container`` (OBS records to Matroska, a Twitch download is MPEG-TS:
    both go through FFmpeg's demuxer, an mp4 through m0's own reader); ``"stream"``: the mp4
    with the audio of a stream-like recording of real sound (:func:`benchmarks.media.stream_vod`),
    whose many loud moments the default's check and second look judge."""
    header = ["command", "seconds", "× ffmpeg decode", "× bare PyAV loop",
              "× bare PyAV loop, in turns", "× real time"]
    if container == "stream":
        from m0core.dev import corpus

        title = f"Analysis time, {minutes:g} min 720p VOD, mp4, a stream's sound"
        why = corpus.missing("validation")
        if why:
            return Table(title, header, notes=[f"skipped: {why}"])
        vod = media.stream_vod(minutes)
    else:
        title = f"Analysis time, {minutes:g} min 720p VOD, {container}"
        vod = media.vod(minutes, container)
    cores = os.cpu_count() or 1
    table = Table(f"{title} ({media.size_gb(vod)})", header)
    floor = _floor(vod, repeat)
    bare = _bare(vod, repeat)
    cases = [
        ("ffmpeg -i VOD -map 0:a -f null - (floor)", None),
        ("bare PyAV loop: demux + decode, one process (floor)", "bare"),
        (f"m0 analyze --no-clips (default: pyav, {len(_segments(vod, cores))} segment(s))", []),
        ("m0 analyze --no-clips --selector adaptive (the previous default)",
         ["--selector", "adaptive"]),
        ("m0 analyze --no-clips --jobs 1 (the whole file by one worker)", ["--jobs", "1"]),
        ("m0 analyze --no-clips --jobs 0 (in m0's own process)", ["--jobs", "0"]),
        ("m0 analyze --no-clips --source ffmpeg (pipe)", ["--source", "ffmpeg"]),
        ("m0 analyze --no-clips --no-streaming (rms-legacy)", ["--no-streaming", "--jobs", "0"]),
    ]
    for label, extra in cases:
        paired = "-"
        if extra is None:
            result = floor
        elif extra == "bare":
            result, paired = bare, "1.00"
        else:
            result, ratio = in_turns(repeat, _analyze(vod, *extra), _bare_cmd(vod))
            paired = f"{ratio:.2f}"
        table.rows.append([label, f"{result.seconds:.2f}", f"{result.seconds / floor.seconds:.2f}",
                           f"{result.seconds / bare.seconds:.2f}", paired,
                           f"{minutes * 60 / result.seconds:.0f}×"])
        if extra == "bare" and cores >= 2:
            two = _two_workers(vod, repeat)
            table.rows.append(["two of m0's decoding workers alone, half the file each, at once "
                               "(the floor of the default's design)", f"{two:.2f}",
                               f"{two / floor.seconds:.2f}", f"{two / bare.seconds:.2f}", "-",
                               f"{minutes * 60 / two:.0f}×"])
    table.notes.append(f"best of {repeat} runs each, process start included, --no-cache; "
                       "\"in turns\": each m0 run followed by a run of the bare loop, the "
                       f"median of the {repeat} pairs' ratios (a change in the machine's load "
                       "touches both alike)")
    return table


def speed_by_length(lengths: list[float], repeat: int) -> Table:
    """The default ``m0 analyze --no-clips`` and the bare PyAV loop in turns on mp4 VODs of
    ``lengths`` minutes: how the ratio moves with length. Splitting the file over the cores
    has a fixed price (m0's own start-up and plan, a second interpreter and its libraries,
    m0's process selecting beside the workers), so the ratio falls towards the decoding's
    own share as the file grows."""
    cores = os.cpu_count() or 1
    table = Table(f"The default against the bare PyAV loop by length, mp4, {cores} cores",
                  ["file", "bare loop (s)", "m0 default (s)", "× bare loop, in turns",
                   "× bare loop's CPU", f"m0 − bare loop ÷ {cores} (s)"])
    for minutes in lengths:
        vod = media.vod(minutes)
        runs = pairs(repeat, _analyze(vod), _bare_cmd(vod))

        def median(values) -> float:
            return statistics.median(list(values))

        table.rows.append([
            f"{minutes:g} min ({media.size_gb(vod)})",
            f"{min(b.seconds for _, b in runs):.2f}", f"{min(a.seconds for a, _ in runs):.2f}",
            f"{median(a.seconds / b.seconds for a, b in runs):.2f}",
            f"{median(a.cpu / b.cpu for a, b in runs if b.cpu):.2f}",
            f"{median(a.seconds - b.seconds / cores for a, b in runs):.2f}"])
    table.notes.append(f"{repeat} pair{'s' if repeat != 1 else ''} each, m0 then the bare loop "
                       "back to back, medians of the pairs' ratios; CPU is the whole machine's "
                       "busy time during a run (read it on a quiet machine); the last column is "
                       "the wall time m0 takes over a perfect split of the bare loop over the "
                       "cores")
    return table


def memory(lengths: list[float], container: str, legacy_up_to: float) -> Table:
    """Peak RSS of the largest process: streaming (sequential and segmented) vs legacy, with
    the bare PyAV loop beside it (what FFmpeg's demuxer alone holds for that file), and m0's
    own process on its own when worker processes decode."""
    table = Table(f"Memory: peak RSS of the largest process, {container} input "
                  "(m0 analyze --no-clips)",
                  ["file", "bare PyAV loop (MB)", "rms-legacy (MB)",
                   "streaming --jobs 0, in m0's process (MB)", "streaming --jobs 1 (MB)",
                   "streaming, default jobs (MB)", "m0's own process, default jobs (MB)",
                   "saving vs legacy"])
    peaks: list[float] = []
    for minutes in lengths:
        vod = media.vod(minutes, container)
        bare = run(_bare_cmd(vod), memory=True)
        legacy = (run(_analyze(vod, "--no-streaming", "--jobs", "0"), memory=True)
                  if minutes <= legacy_up_to else None)
        here = run(_analyze(vod, "--jobs", "0"), memory=True)
        single = run(_analyze(vod, "--jobs", "1"), memory=True)
        default = run(_analyze(vod), memory=True)
        peaks.append(default.peak_mb)
        saving = f"{100 * (1 - default.peak_mb / legacy.peak_mb):.1f} %" if legacy else "-"
        table.rows.append([f"{minutes:g} min ({media.size_gb(vod)})", f"{bare.peak_mb:.1f}",
                           f"{legacy.peak_mb:.0f}" if legacy else "not run",
                           f"{here.peak_mb:.1f}", f"{single.peak_mb:.1f}", f"{default.peak_mb:.1f}",
                           f"{default.main_mb:.1f}", saving])
    table.notes.append(f"default jobs: peak spread across lengths {max(peaks) - min(peaks):.1f} MB")
    return table


def clip_memory(lengths: list[float], container: str = "mp4", clips: int = 5) -> Table:
    """Peak RSS of the largest process of ``m0 analyze`` with its clips (the default copy
    cut, the report), by length, beside one ``ffmpeg -ss T -i VOD -t 20 -c copy`` of the
    same file: what the clip's ffmpeg held when it opened the whole recording."""
    table = Table(f"Memory with clips: peak RSS of the largest process, {container} input "
                  f"(m0 analyze --selector top --max-clips {clips}: copy clips, the report)",
                  ["file", "one `ffmpeg -ss T -i VOD -t 20 -c copy` (MB)",
                   "m0 analyze with clips, largest process (MB)", "m0's own process (MB)"])
    peaks: list[float] = []
    for minutes in lengths:
        vod = media.vod(minutes, container)
        with tempfile.TemporaryDirectory() as out:
            bare = run(ffmpeg("-y", "-ss", f"{minutes * 30:.3f}", "-i", str(vod), "-t", "20",
                              "-c", "copy", str(Path(out) / "clip.mp4")), memory=True)
            made = run(m0("analyze", str(vod), str(Path(out) / "out"), "-q", "--no-cache",
                          "--selector", "top", "--max-clips", str(clips)), memory=True)
        peaks.append(made.peak_mb)
        table.rows.append([f"{minutes:g} min ({media.size_gb(vod)})", f"{bare.peak_mb:.1f}",
                           f"{made.peak_mb:.1f}", f"{made.main_mb:.1f}"])
    table.notes.append(f"m0 with clips: peak spread across lengths "
                       f"{max(peaks) - min(peaks):.1f} MB")
    return table


def clips(minutes: float, length: float = 30.0) -> Table:
    """10 clips: sequential ffmpeg runs against m0's parallel encoder."""
    from m0core import OptimizedClipGenerator

    vod = media.vod(minutes)
    duration = minutes * 60
    starts = [(duration - length) * i / 9 for i in range(10)]
    table = Table(f"10 clips of {length:g} s from the {minutes:g} min 720p VOD",
                  ["how", "seconds", "ratio"])

    def timed(fn) -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as out:
        seq = timed(lambda: [run(ffmpeg("-y", "-ss", f"{t:.3f}", "-i", str(vod),
                                        "-t", f"{length:g}", "-c", "copy",
                                        str(Path(out) / f"s{i}.mp4")))
                             for i, t in enumerate(starts)])
        windows = [(t, t + length) for t in starts]
        results = {}
        for cut, workers in (("copy", os.cpu_count() or 1), ("accurate", 1), ("accurate", 2)):
            gen = OptimizedClipGenerator(max_workers=workers)
            results[(cut, workers)] = timed(
                lambda gen=gen, cut=cut: gen.generate_clips(vod, windows, out, cut=cut))
    table.rows.append([f"10 × `ffmpeg -ss T -i VOD -t {length:g} -c copy`, one after another",
                       f"{seq:.2f}", "1.00"])
    copy = results[("copy", os.cpu_count() or 1)]
    table.rows.append([f"m0 copy, {os.cpu_count()} workers", f"{copy:.2f}",
                       f"{copy / seq:.2f} of sequential"])
    one, two = results[("accurate", 1)], results[("accurate", 2)]
    table.rows.append(["m0 accurate, 1 worker", f"{one:.2f}", "1.00"])
    table.rows.append(["m0 accurate, 2 workers", f"{two:.2f}", f"{one / two:.2f}× faster"])
    # The ceiling: the same re-encode, one thread per ffmpeg, one at a time against 2 at once.
    from m0_plugins.ffmpeg_encoder.command import ACCURATE_VIDEO

    with tempfile.TemporaryDirectory() as out:
        encodes = [ffmpeg("-y", "-threads", "1", "-ss", f"{t:.3f}", "-i", str(vod),
                          "-t", f"{length:g}", "-map", "0:V:0", "-map", "0:a:0", *ACCURATE_VIDEO,
                          "-threads", "1", str(Path(out) / f"t{i}.mp4"))
                   for i, t in enumerate(starts[:4])]
        table.rows += _ceiling("4 single-threaded re-encodes", encodes)
    table.notes.append("one ffmpeg re-encode (x264 and its decoder) already uses both cores, so "
                       "2 workers can only fill the gaps; the ceiling rows show how far two "
                       "single-threaded encodes scale on this machine at all")
    table.notes.append(_load())
    return table


def cache_rerun(minutes: float, container: str = "mp4", repeat: int = 20) -> Table:
    """A first analysis against re-runs served by the cache: with other settings (the
    selector runs on the cached curve) and with the same ones (the selection kept with the
    curve is replayed), the latter as a median of ``repeat`` runs in turns with the floor."""
    vod = media.vod(minutes, container)
    table = Table(f"Analysis cache, {minutes:g} min 720p VOD ({container})",
                  ["run", "seconds", "of the first run", "× the floor"])
    numpy_floor = [sys.executable, "-c", "import numpy"]
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, M0_CACHE_DIR=cache)
        analyze = m0("analyze", str(vod), out, "--no-clips", "--no-report", "-q")
        first = run(analyze, env)
        reruns = {
            "re-run, crest selector, -t -30, --max-clips 5 (cached)":
                ["--selector", "crest", "-t", "-30", "--max-clips", "5"],
            "re-run, default selector, --max-clips 5, --clip-length 20 (cached)":
                ["--max-clips", "5", "--clip-length", "20"],
        }
        again = {label: best_of(3, analyze + extra, env) for label, extra in reruns.items()}
        run(analyze, env)  # selects on the cached curve and keeps the selection
        same = medians_in_turns(repeat, {"floor": numpy_floor, "same": analyze}, env)
    floor = best_of(3, numpy_floor)

    def row(label: str, seconds: float, floor_seconds: float) -> list[str]:
        return [label, f"{seconds:.3f}", f"{100 * seconds / first.seconds:.1f} %",
                f"{seconds / floor_seconds:.2f}"]

    table.rows.append(["first run (decodes)", f"{first.seconds:.2f}", "100 %",
                       f"{first.seconds / floor.seconds:.0f}"])
    table.rows.append(row("floor: `python -c 'import numpy'` (start-up of any m0 process)",
                          floor.seconds, floor.seconds))
    for label, took in again.items():
        table.rows.append(row(label, took.seconds, floor.seconds))
    table.rows.append(row(f"floor, median of {repeat}", same["floor"], same["floor"]))
    table.rows.append(row(f"re-run, same options (cached curve and selection), median of "
                          f"{repeat}", same["same"], same["floor"]))
    table.notes.append("process start included (python -m m0core); --no-clips --no-report: the "
                       "analysis alone (the report's thumbnails are decoding work of their own)")
    table.notes.append(f"best of 3 runs each, but the last two rows: the median of {repeat} "
                       "runs of each, taken in turns")
    return table


def first_clip(minutes: float) -> Table:
    """How soon the first clip exists while the rest of the file is still being analysed."""
    vod = media.vod(minutes)
    table = Table(f"Progressive clips, {minutes:g} min 720p VOD (m0 analyze, copy clips)",
                  ["measure", "seconds"])
    with tempfile.TemporaryDirectory() as out:
        whole = run(m0("analyze", str(vod), out, "-q", "--no-cache"))
        doc = json.loads((Path(out) / "highlights.json").read_text())
    timings = doc["timings"]
    table.rows.append(["time to first clip", f"{timings.get('first_clip', float('nan')):.2f}"])
    table.rows.append(["analysis of the whole file", f"{timings['analysis']:.2f}"])
    table.rows.append(["whole command, all clips written (process start included)",
                       f"{whole.seconds:.2f}"])
    table.notes.append(f"{len(doc['highlights'])} highlights; in-run times from highlights.json")
    return table


def cut_modes(minutes: float, clips: int, repeat: int) -> Table:
    """``copy`` vs ``accurate`` vs ``smart``: cutting ``clips`` 30 s clips of a 720p VOD.

    The windows start mid-GOP, spread over the file; each mode runs the ffmpeg encoder plugin
    in-process with one worker per core; best of ``repeat``.
    """
    from m0_plugins.ffmpeg_encoder import FFmpegEncoder
    from m0core.media.ffmpeg import probe
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


def shorts(minutes: float, clips: int = 10, length: float = 30.0, fade: float = 0.5) -> Table:
    """Short-form clips: ``clips`` clips of ``length`` s from the VOD, 9:16 (blur) at -14 LUFS
    with fades, with 1 worker and one per core; then their compilation.

    References in the same run: the plain ``accurate`` re-encode of the same windows (what any
    re-encoded clip costs) and the 1-worker run.
    """
    from m0_plugins.ffmpeg_encoder import FFmpegEncoder
    from m0_plugins.ffmpeg_encoder.shortform import frame_size, video_size
    from m0core.media.ffmpeg import probe
    from m0core.model import Highlight
    from m0core.shortform import ShortForm

    vod = probe(media.vod(minutes))
    step = (vod.duration - length - 10) / clips
    highlights = [Highlight(7.3 + i * step, 7.3 + i * step + length, 7.3 + i * step + 20,
                            -6.0, 3.0, index=i + 1) for i in range(clips)]
    short = ShortForm.from_values(aspect="9:16", loudness=-14, fade=fade)
    cores = os.cpu_count() or 1
    table = Table(f"Short-form: {clips} vertical clips of {length:g} s from the {minutes:g} min "
                  "720p VOD, and their compilation", ["what", "seconds", "ratio"])

    def cut(out: Path, workers: int, short_form: ShortForm | None) -> tuple[float, list]:
        began = time.perf_counter()
        with FFmpegEncoder(vod, out, workers=workers, cut="accurate",
                           short_form=short_form) as enc:
            results = [f.result() for f in [enc.submit(h) for h in highlights]]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        return time.perf_counter() - began, results

    with tempfile.TemporaryDirectory() as plain, tempfile.TemporaryDirectory() as one, \
            tempfile.TemporaryDirectory() as many:
        accurate, _ = cut(Path(plain), cores, None)
        single, _ = cut(Path(one), 1, short)
        parallel, results = cut(Path(many), cores, short)
        with FFmpegEncoder(vod, Path(many), workers=1, short_form=short) as enc:
            began = time.perf_counter()
            for h in highlights:
                enc.loudness_gain(h.start, h.duration)
            measuring = time.perf_counter() - began
        with FFmpegEncoder(vod, Path(many), workers=1, short_form=short) as enc:
            began = time.perf_counter()
            joined = enc.compile(results)
            compiling = time.perf_counter() - began
        assert joined.ok, joined.error
        with FFmpegEncoder(vod, Path(many), workers=1,
                           short_form=replace(short, fade=0.0)) as enc:
            began = time.perf_counter()
            copied = enc.compile(results)
            copying = time.perf_counter() - began
        assert copied.ok, copied.error
    table.rows.append([f"accurate re-encode, same windows, {cores} workers (reference)",
                       f"{accurate:.2f}", "1.00"])
    table.rows.append(["9:16 blur, -14 LUFS, fades: 1 worker", f"{single:.2f}",
                       f"{single / accurate:.2f} of the reference"])
    table.rows.append([f"9:16 blur, -14 LUFS, fades: {cores} workers", f"{parallel:.2f}",
                       f"{single / parallel:.2f}× faster than 1 worker"])
    table.rows.append([f"of which loudness measurement ({clips} windows, one after another)",
                       f"{measuring:.2f}", f"{100 * measuring / single:.1f} % of 1 worker"])
    table.rows.append([f"compilation.mp4 ({joined.duration:.0f} s, {clips} chapters, "
                       f"crossfades of {fade:g} s)", f"{compiling:.2f}",
                       f"{joined.duration / compiling:.1f}× real time"])
    table.rows.append([f"compilation.mp4 without fades ({copied.duration:.0f} s, streams "
                       "copied)", f"{copying:.2f}", f"{copied.duration / copying:.0f}× real time"])
    width, height = frame_size(short, video_size(vod.path))
    table.notes.append(f"{vod.duration / 60:.0f} min VOD, 1280x720 30 fps; clips {width}x{height}"
                       "; in-process FFmpegEncoder (no process start-up counted); loudness "
                       "measured by ebur128 on each clip window's audio, through the gain "
                       "and the limiter again where the limiter takes it off the target")
    table.notes.append(_load())
    return table


def batch_scaling(minutes: float, count: int = 4, repeat: int = 1) -> Table:
    """``m0 batch`` of ``count`` equal VODs with ``--workers 1`` against ``--workers 2``."""
    vod = media.vod(minutes)
    table = Table(f"Batch: {count} equal {minutes:g} min 720p VODs",
                  ["command", "seconds", "speed-up", "cores busy"])
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        for i in range(count):
            shutil.copy(vod, inputs / f"vod{i}.mp4")
        for label, extra in (("", []), (" --jobs 0", ["--jobs", "0"]),
                             (" --jobs 0 --no-clips --no-report",
                              ["--jobs", "0", "--no-clips", "--no-report"])):
            times = {}
            for workers in (1, 2):
                runs = []
                for attempt in range(repeat):
                    out = Path(tmp) / f"out{len(table.rows)}-{attempt}"  # a fresh ledger
                    runs.append(run(m0("batch", str(inputs), str(out), "--workers", str(workers),
                                       "--no-cache", "-q", *extra)))
                best = min(runs, key=lambda r: r.seconds)
                times[workers] = best.seconds
                table.rows.append([f"m0 batch --workers {workers}{label}",
                                   f"{times[workers]:.2f}", f"{times[1] / times[workers]:.2f}×",
                                   f"{best.cores:.2f}"])
        decodes = [ffmpeg("-threads", "1", "-i", str(v), "-map", "0:a", "-f", "null", "-")
                   for v in sorted(inputs.iterdir())]
        table.rows += _ceiling(f"{count} single-threaded `ffmpeg -i VOD -map 0:a -f null -`",
                               decodes, blank=1)
    table.notes.append(f"best of {repeat}; --no-cache (every run decodes); clips cut by stream "
                       "copy; cores busy = CPU seconds of all the run's processes ÷ wall "
                       "seconds. Each job gets cores ÷ workers clip processes and decoding "
                       "segments, so with --workers 1 one job already decodes 2 segments at "
                       "once and cuts clips while it decodes; --jobs 0 decodes each file in "
                       "its job's process, in one pass; the analysis-only rows show the batch "
                       "runner's own scaling, the ceiling rows how far 2 cores scale this kind "
                       "of work at all")
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


def _ceiling(what: str, cmds: list[list[str]], blank: int = 0) -> list[list[str]]:
    """Two rows: ``cmds`` one at a time, then 2 at once: how far this machine's cores scale
    that kind of work at all (``blank`` empty cells pad the rows to the table's width)."""
    single, double = at_once(cmds, 1), at_once(cmds, 2)
    pad = [""] * blank
    return [[f"machine ceiling: {what}, one at a time", f"{single:.2f}", "1.00×", *pad],
            ["machine ceiling: the same, 2 at once", f"{double:.2f}", f"{single / double:.2f}×",
             *pad]]


def _load() -> str:
    """The machine's load when a table was made: a shared machine skews wall-time ratios."""
    one, five, _ = os.getloadavg()
    return (f"load average at the end: {one:.1f} (1 min), {five:.1f} (5 min) "
            f"on {os.cpu_count()} cores")
