"""``python -m benchmarks [--quick] [--only SUITE ...] [--out FILE]``: measure m0 against
ffmpeg and bring docs/benchmarks.md up to date (its tables made again, the notes people wrote
under them kept: :mod:`benchmarks.report`)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import psutil

from . import detection, report, suites

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    """One line describing this machine."""
    from m0core import __version__
    from m0core.media.ffmpeg import ffmpeg_exe

    cpu = platform.processor() or platform.machine()
    mem = psutil.virtual_memory().total / 2**30
    return (f"m0 {__version__}, Python {platform.python_version()}, {os.cpu_count()} cores "
            f"({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"ffmpeg {Path(ffmpeg_exe()).name}")


#: The detection suite's files: stream-like (split: [(seed, bed dBFS)]) and their seconds,
#: noise beds ([(seed, bed dBFS)]) and theirs.
DETECTION = (
    {"dev": [(1, -38.0), (2, -30.0), (3, -20.0), (4, -34.0), (5, -24.0), (6, -40.0),
             (7, -28.0), (8, -36.0), (9, -22.0), (10, -32.0), (11, -18.0), (12, -26.0)],
     "validation": [(101, -38.0), (102, -30.0), (103, -20.0), (104, -34.0), (105, -24.0),
                    (106, -40.0), (107, -27.0), (201, -38.0), (202, -33.0), (203, -29.0),
                    (204, -25.0), (205, -21.0), (206, -19.0), (401, -40.0), (402, -36.0),
                    (403, -31.0), (404, -27.0), (405, -23.0), (406, -18.0), (501, -39.0),
                    (502, -35.0), (503, -30.0), (504, -26.0), (505, -22.0), (506, -19.0)],
     "outside": [(601, -40.0), (602, -36.0), (603, -32.0), (604, -28.0), (605, -24.0),
                 (606, -19.0), (607, -38.0), (608, -34.0), (609, -30.0), (610, -26.0),
                 (611, -22.0), (612, -18.0)]},
    600.0,
    [(11, -42.0), (12, -42.0), (21, -32.0), (22, -32.0), (31, -22.0), (32, -22.0)],
    900.0)
QUICK_DETECTION = ({"validation": [(201, -30.0)]}, 120.0, [(11, -42.0)], 120.0)

#: The suites of a quick run (a smoke run for CI) and of a full run, by name.
QUICK = {
    "decode": [lambda: suites.decode_routes(1, 1)],
    "speed": [lambda: suites.analysis_speed(1, 1),
              lambda: suites.analysis_speed(1, 1, "stream")],
    "length": [lambda: suites.speed_by_length([0.5, 1], 1)],
    "memory": [lambda: suites.memory([0.5, 1], "mkv", legacy_up_to=1),
               lambda: suites.memory([0.5, 1], "m4a", legacy_up_to=0)],
    "clips": [lambda: suites.clips(1, length=5)],
    "clip-memory": [lambda: suites.clip_memory([0.5, 1]),
                    lambda: suites.clip_memory([0.5, 1], "fragmented")],
    "cache": [lambda: suites.cache_rerun(1, repeat=5)],
    "first-clip": [lambda: suites.first_clip(1)],
    "cut-modes": [lambda: suites.cut_modes(2, 2, 1)],
    "batch": [lambda: suites.batch_scaling(1), lambda: suites.batch_many(10)],
    "shorts": [lambda: suites.shorts(2, clips=3, length=10)],
    "detection": [lambda: detection.suite(*QUICK_DETECTION),
                  lambda: detection.knob(*QUICK_DETECTION)],
}
FULL = {
    "decode": [lambda: suites.decode_routes(60, 3)],
    "speed": [lambda: suites.analysis_speed(60, 3),
              lambda: suites.analysis_speed(60, 3, "mkv"),
              lambda: suites.analysis_speed(60, 3, "ts"),
              lambda: suites.analysis_speed(60, 3, "stream")],
    "length": [lambda: suites.speed_by_length([3, 60, 360], 3)],
    "memory": [lambda: suites.memory([3, 60, 360], "mp4", legacy_up_to=0),
               lambda: suites.memory([3, 60, 360], "m4a", legacy_up_to=0),
               lambda: suites.memory([3, 60, 360], "mkv", legacy_up_to=360),
               lambda: suites.memory([3, 60, 360], "ts", legacy_up_to=0)],
    "clips": [lambda: suites.clips(60)],
    "clip-memory": [lambda: suites.clip_memory([3, 60, 360]),
                    lambda: suites.clip_memory([3, 60, 360], "fragmented")],
    "cache": [lambda: suites.cache_rerun(60), lambda: suites.cache_rerun(180, "mkv")],
    "first-clip": [lambda: suites.first_clip(60)],
    "cut-modes": [lambda: suites.cut_modes(20, 8, 3)],
    "batch": [lambda: suites.batch_scaling(10, repeat=2), lambda: suites.batch_many(100)],
    "shorts": [lambda: suites.shorts(60)],
    "detection": [lambda: detection.suite(*DETECTION, onset=False),
                  lambda: detection.knob(*DETECTION)],
}
SUITES = list(FULL)


def compile_bytecode() -> None:
    """Byte-compile m0 as ``pip install`` does, so every timed process starts the way a user's
    does even where ``PYTHONDONTWRITEBYTECODE`` is set (an editable install then compiles all
    of m0 from source in every process)."""
    import compileall

    import m0_plugins
    import m0core

    for package in (m0core, m0_plugins):
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure m0 against ffmpeg's own decode of the same files and bring "
                    "docs/benchmarks.md up to date: each table made again replaces its own, "
                    "the notes people wrote under it and the tables not made stay.")
    parser.add_argument("--quick", action="store_true",
                        help="short media and one repetition (a smoke run for CI)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report to write or bring up to date (default: docs/benchmarks.md; "
                             "a --quick run writes none unless given one)")
    parser.add_argument("--only", nargs="+", choices=SUITES, default=None, metavar="SUITE",
                        help=f"run only these suites ({', '.join(SUITES)}); their tables "
                             "replace theirs in the report, the rest of it stays")
    args = parser.parse_args(argv)
    out = args.out or (None if args.quick else DOCS)

    plan = QUICK if args.quick else FULL
    compile_bytecode()
    started = time.perf_counter()
    tables = []
    for name in args.only or SUITES:
        for step in plan[name]:
            table = step()
            print(table.markdown(), flush=True)
            tables.append(table)
    if out is None:
        print("not written: a --quick run writes a report only with --out FILE", file=sys.stderr)
        return 0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    command = (f"python -m benchmarks{' --quick' if args.quick else ''}"
               f"{' --only ' + ' '.join(args.only) if args.only else ''}")
    seconds = time.perf_counter() - started
    here = machine()
    every_suite = args.only is None or set(args.only) == set(SUITES)
    if not every_suite:
        for table in tables:
            table.notes.append(f"made by `{command}` on {time.strftime('%Y-%m-%d')} in "
                               f"{seconds:.0f} s (load at the end: {load}), {here}")
    header = "\n".join([f"# m0 benchmarks ({'quick' if args.quick else 'full'})", "",
                        f"Machine: {here}", "",
                        f"Load average when the run ended (1, 5, 15 min): {load} — anything "
                        "else running on the machine shows up in the absolute times; the ratios "
                        "are within one run.", "", f"Made by `{command}` in {seconds:.0f} s."])
    old = out.read_text() if out.exists() else None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.updated(old, header, tables, every_suite))
    print(f"{'updated' if old is not None else 'wrote'} {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
