"""Check detection on a recording of your own seed: make a stream-like recording with its
ground truth, then score any run's ``highlights.json`` against it.

``python -m m0core.dev.heldout make FILE --seed N --bed-db DB --split SPLIT`` composes a
recording of real recorded sound (:mod:`m0core.dev.corpus`; the Debian packages it names must
be installed) and writes it to ``FILE`` with its truth beside it (``FILE.truth.json``: the
reactions to find, the distractors, the effects and the beds). Run m0 on it however you like —
``m0 analyze FILE out/``, a batch, the GUI, other options — then
``python -m m0core.dev.heldout score FILE.truth.json out/highlights.json`` says how it did, by
the benchmark's rules (:func:`m0core.dev.synth.match_events`): precision, recall, F1, the
precision of the N best (N = the reactions) and each reaction missed (with the bed it lay on)
and highlight that is none, at the times a player shows. Exit code 0, or 1 with one line when
something cannot be read or made. ``--split noise`` makes a synthetic noise bed like the
benchmark's instead (:mod:`m0core.dev.synth`: cheers, shouts and spikes over drifting noise,
48 kHz; no package needed), with its moments as the truth. ``--rate 48000`` (or 44100)
composes a stream-like recording at a stream VOD's own rate instead of the corpus's 24 kHz:
its sounds keep what they hold over 12 kHz. ``--mic obs`` puts the streamer's voice (the
talk and the reactions) through OBS's Compressor at its defaults before the mix, as a
streamer's mic filter does (``--mic FILTER``: any ffmpeg audio filter); the reactions'
levels over their bed are as placed before it.

For many recordings at once, make them in one folder, run ``m0 batch "FOLDER/*.m4a" OUT
--no-clips`` on them, then ``python -m m0core.dev.heldout tally FOLDER OUT``: one line a
recording (its F1, the precision of its N best, what was found and what was false), then the
totals, the recordings under the bar, the reactions missed on each kind of bed and those
found at each whole dB the corpus placed them over their bed, for the
stream-like recordings and for the noise beds (each file's F1 and precision of its N best are
to reach 0.9 on a stream-like recording, 0.95 on a noise bed; ``--bar`` holds every file to
one bar). Exit code 1 when a recording has no run in ``OUT``.

``python -m m0core.dev.heldout stand FOLDER`` says, before any run, how far the reactions of
those recordings stand out of the sound around them, heard whole and in the voice's band, by
the bed's level (:mod:`m0core.dev.standing`): what loudness has to find. A reaction through a
compressor on the mic stands a few dB over the talk, where the same one as made stands 14.

Example::

    python -m m0core.dev.heldout make held.m4a --seed 901 --bed-db -27 --split validation
    m0 analyze held.m4a out/ --no-clips
    python -m m0core.dev.heldout score held.m4a.truth.json out/highlights.json

    for s in 901 902 903; do
        python -m m0core.dev.heldout make held/v$s.m4a --seed $s --bed-db -27
    done
    m0 batch "held/*.m4a" out/ --no-clips
    python -m m0core.dev.heldout tally held/ out/
    python -m m0core.dev.heldout stand held/

    python -m m0core.dev.heldout make beds/n5.flac --seed 5 --bed-db -42 --split noise
    m0 batch "beds/*.flac" beds-out/ --no-clips
    python -m m0core.dev.heldout tally beds/ beds-out/
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

from m0core import stops
from m0core.batch.runner import job_folders
from m0core.checks import number
from m0core.dev import corpus, standing, synth
from m0core.errors import InputError, M0Error, OptionError, OutputError
from m0core.model import Highlight
from m0core.outputs import position, read_highlights, write_json_atomic
from m0core.words import count

#: What a truth file's ``schema`` says.
TRUTH_SCHEMA = "m0.corpus-truth/1"
#: The split of a synthetic noise bed like the benchmark's (:mod:`m0core.dev.synth`): its
#: moments are cheers, shouts and spikes over drifting noise (:func:`synth.plan_events`).
NOISE = "noise"
#: A noise bed's sample rate (Hz), as the benchmark's.
NOISE_RATE = 48000
#: What a truth file's name ends with, after its recording's.
_TRUTH_SUFFIX = ".truth.json"
#: The bar a stream-like recording's F1 and precision of its N best are held to by default.
BAR = 0.9
#: The bar a noise bed's are held to by default.
NOISE_BAR = 0.95


def truth_path(path: Path) -> Path:
    """Where :func:`make` writes the truth of the recording at ``path``."""
    return path.with_name(path.name + _TRUTH_SUFFIX)


def make(path: Path, duration: float, *, seed: int, bed_db: float, split: str,
         rate: int | None = None, mic: str | None = None) -> Path:
    """Write the recording ``path`` (:func:`m0core.dev.corpus.write`, or a noise bed of
    :mod:`m0core.dev.synth` where ``split`` is :data:`NOISE`) at ``rate`` Hz (default: the
    corpus's :data:`~m0core.dev.corpus.SAMPLE_RATE`, a noise bed's :data:`NOISE_RATE`) and
    its truth beside it; the truth's path. ``mic`` is an ffmpeg audio filter a stream-like
    recording's voice goes through (:func:`m0core.dev.corpus.compose`); a noise bed has none
    (an :class:`~m0core.errors.OptionError`). Both are there or neither: where the truth cannot
    be written, the recording is removed and an :class:`~m0core.errors.OutputError` says why.
    Its folder is made if need be."""
    if split == NOISE and mic is not None:
        raise OptionError("a noise bed has no voice for a mic filter: leave out --mic")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot make the folder "
                          f"({exc.strerror or exc})") from None
    if split == NOISE:
        corpus.check_levels(duration, bed_db)
        rate = corpus.check_rate(NOISE_RATE if rate is None else rate)
        events = synth.plan_events(duration, seed=seed)
        corpus.encode(path, synth.audio_blocks(duration, events, seed=seed, bed_db=bed_db,
                                               sample_rate=rate), rate)
        truth = corpus.Recording(duration, bed_db, NOISE, seed, events,
                                 beds=[(0.0, duration, "noise")])
    else:
        truth = corpus.write(path, duration, seed=seed, bed_db=bed_db, split=split,
                             rate=corpus.SAMPLE_RATE if rate is None else rate, mic=mic)
    out = truth_path(path)
    try:
        write_json_atomic(out, {"schema": TRUTH_SCHEMA, "recording": path.name, **asdict(truth)})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return out


class Truth(NamedTuple):
    """What a truth file holds that a score reads."""

    reactions: list[synth.Event]
    split: str
    beds: list[tuple[float, float, str]]  # (start, end, kind) of each stretch of bed
    bed_db: float = float("nan")  # the bed's level as placed (dBFS)

    def bed_at(self, time: float) -> str:
        """The bed at ``time`` in words ("" where the truth names none): one of the
        corpus's bed kinds, ``both`` said as "music and talk"."""
        kind = next((kind for start, end, kind in self.beds if start <= time < end), "")
        return "music and talk" if kind == "both" else kind


def read_truth(path: Path) -> Truth:
    """The reactions, split and beds of a truth file :func:`make` wrote; an
    :class:`InputError` of one line when it cannot be read or is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("schema") != TRUTH_SCHEMA:
            raise ValueError(f"not an {TRUTH_SCHEMA} document")
        return Truth([synth.Event(**e) for e in doc["reactions"]], str(doc.get("split", "")),
                      [(float(a), float(b), str(kind)) for a, b, kind in doc.get("beds", [])],
                      float(doc.get("bed_db", "nan")))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a truth file of this tool ({exc})") from None


def report(truth: Truth, highlights: list[Highlight]) -> str:
    """How ``highlights`` did against ``truth``: the figures, then each reaction missed (and
    the bed it lay on) and each highlight that is none."""
    events = truth.reactions
    match = synth.match_events(events, highlights)
    lines = [f"{match.found} of {match.events} reactions found, {match.false} of "
             f"{match.highlights} highlights false: precision {match.precision:.2f}, "
             f"recall {match.recall:.2f}, F1 {match.f1:.2f}; precision of the "
             f"{max(1, len(events))} best {synth.top_precision(events, highlights):.2f}"]
    lines += [f"missed: the reaction at {position(e.time)} ({e.duration:.1f} s, "
              f"+{e.gain_db:.0f} dB over its bed"
              + (f" of {bed})" if (bed := truth.bed_at(e.time)) else ")")
              for e in match.missed]
    lines += [f"false: highlight {h.index} at {position(h.peak_time)}"
              + (f" ({h.reason})" if h.reason else "")
              for i, h in enumerate(highlights, start=1)
              if (h.index or i) not in match.event_of]
    return "\n".join(lines)


def tally(folder: Path, out_dir: Path, bar: float | None = None) -> tuple[str, int]:
    """How the runs in ``out_dir`` (``m0 batch``'s folders) did against the truth of every
    recording in ``folder``: a line a recording, then, for the stream-like recordings and
    for the noise beds, the totals and the recordings under their bar (``bar``, or by
    default each one's own: :data:`BAR` for a stream-like recording, :data:`NOISE_BAR`
    for a noise bed); and how many recordings had no run there."""
    if bar is not None:
        bar = number("bar", bar, low=0.0, high=1.0)
    truths, recordings = _made(folder)
    folders = job_folders(recordings, out_dir)
    lines: list[str] = []
    streams = _Kind("stream-like recording", BAR if bar is None else bar)
    beds = _Kind("noise bed", NOISE_BAR if bar is None else bar)
    unrun: list[str] = []
    for truth, recording in zip(truths, recordings, strict=True):
        run = folders[recording] / "highlights.json"
        if not run.is_file():
            unrun.append(recording.name)
            lines.append(f"{recording.name}: no run ({run} is not there)")
            continue
        known = read_truth(truth)
        events = known.reactions
        highlights, _ = read_highlights(run)
        match = synth.match_events(events, highlights)
        top = synth.top_precision(events, highlights)
        (beds if known.split == NOISE else streams).add(recording.name, known, match, top)
        lines.append(f"{recording.name}: F1 {match.f1:.2f}, precision of the "
                     f"{max(1, len(events))} best {top:.2f}; {match.found} of "
                     f"{match.events} found, {match.false} false")
    for kind in [k for k in (streams, beds) if k.scored] or [streams]:
        lines += kind.totals()
    if unrun:
        lines.append(f"no run: {len(unrun)} ({', '.join(unrun)})")
    return "\n".join(lines), len(unrun)


def _made(folder: Path) -> tuple[list[Path], list[Path]]:
    """The truth files in ``folder`` and the recordings they are of, in name order; an
    :class:`InputError` where it is no folder or holds none."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    truths = sorted(folder.glob("*" + _TRUTH_SUFFIX))
    if not truths:
        raise InputError(f"{folder}: no truth files (*{_TRUTH_SUFFIX}) in it")
    return truths, [t.with_name(t.name[:-len(_TRUTH_SUFFIX)]) for t in truths]


def stand(folder: Path) -> str:
    """How far the reactions of every recording in ``folder`` stand out of the sound around
    them, the stream-like ones by the bed's level, the noise beds apart
    (:func:`m0core.dev.standing.measure`)."""
    made = []
    for truth, recording in zip(*_made(folder), strict=True):
        known = read_truth(truth)
        group = "noise beds" if known.split == NOISE else standing.group_of(known.bed_db)
        made.append((recording, group,
                     [(e.time, e.time + e.duration) for e in known.reactions]))
    return standing.measure(made)


@dataclass
class _Kind:
    """The totals of one kind of recording in a :func:`tally`, held to ``bar``."""

    name: str  # one recording of the kind, e.g. "noise bed"
    bar: float
    scored: int = 0
    false: int = 0
    low_f1: list[str] = field(default_factory=list)
    low_top: list[str] = field(default_factory=list)
    missed_on: Counter[str] = field(default_factory=Counter)
    placed: Counter[int] = field(default_factory=Counter)  # reactions by whole dB over bed
    found_at: Counter[int] = field(default_factory=Counter)  # of those, found

    def add(self, recording: str, truth: Truth, match: synth.Match, top: float) -> None:
        """Count one recording's run against its ``truth`` (its match and the precision of
        its N best): its reactions found at each whole dB over their bed, the bed of each
        one missed."""
        self.scored += 1
        self.missed_on.update(bed for e in match.missed if (bed := truth.bed_at(e.time)))
        self.placed.update(int(e.gain_db) for e in truth.reactions)
        self.found_at.update(int(e.gain_db) for e in truth.reactions if e not in match.missed)
        self.false += match.false
        if match.f1 < self.bar:
            self.low_f1.append(recording)
        if top < self.bar:
            self.low_top.append(recording)

    def totals(self) -> list[str]:
        """The totals line, then the recordings under the bar."""
        found, reactions = sum(self.found_at.values()), sum(self.placed.values())
        share = f" ({found / reactions:.2f})" if reactions else ""
        lines = [f"{count(self.scored, self.name)}: {found} of {reactions} "
                 f"found{share}, {self.false} false highlights"]
        for what, names in ((f"F1 under {self.bar:g}", self.low_f1),
                            (f"precision of the N best under {self.bar:g}", self.low_top),
                            ("either", sorted(set(self.low_f1) | set(self.low_top)))):
            lines.append(f"{what}: {len(names)} of {self.scored}"
                         + (f" ({', '.join(names)})" if names else ""))
        if self.missed_on:
            lines.append("missed, by the bed they lay on: " + ", ".join(
                f"{bed} {n}" for bed, n in self.missed_on.most_common()))
        if self.placed:
            lines.append("found, by how far over their bed they were placed: " + ", ".join(
                f"+{db}–{db + 1} dB {self.found_at[db]} of {n}"
                for db, n in sorted(self.placed.items())))
        return lines


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m m0core.dev.heldout",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("make", help="compose a recording and write its truth beside it")
    made.add_argument("file", type=Path, help="the recording to write (.m4a, .mp4, .wav, .flac, "
                                              ".mkv)")
    made.add_argument("--seed", type=int, required=True, help="any whole number")
    made.add_argument("--bed-db", type=float, default=-30.0,
                      help="the bed's level in dBFS, -40 (quiet) to -18 (loud); default -30")
    made.add_argument("--split", choices=(*corpus.SPLITS, NOISE), default="validation",
                      help="whose sounds (default validation: none the check was trained "
                           "on); noise: a synthetic noise bed with cheers, shouts and spikes")
    made.add_argument("--duration", type=float, default=600.0,
                      help="seconds (default 600)")
    made.add_argument("--rate", type=int, default=None,
                      help=f"samples a second (default {corpus.SAMPLE_RATE}, a noise bed "
                           f"{NOISE_RATE}); 48000 or 44100, as a stream's VOD, keeps what the "
                           f"sounds hold over 12 kHz")
    made.add_argument("--mic", default=None, metavar="FILTER",
                      help=f"an ffmpeg audio filter the voice (talk and reactions) goes "
                           f"through before the mix, as a mic's filters in OBS; obs: OBS's "
                           f"Compressor at its defaults ({corpus.OBS_COMPRESSOR})")
    scored = commands.add_parser("score", help="score a highlights.json against a truth file")
    scored.add_argument("truth", type=Path, help="the FILE.truth.json that make wrote")
    scored.add_argument("highlights", type=Path, help="a run's highlights.json")
    tallied = commands.add_parser("tally", help="score the runs of a batch over a folder of "
                                                "recordings that make wrote")
    tallied.add_argument("folder", type=Path, help="the folder of recordings and their truth")
    tallied.add_argument("out", type=Path, help="the OUT_DIR of `m0 batch \"FOLDER/*\" OUT_DIR`")
    tallied.add_argument("--bar", type=float, default=None,
                         help=f"the F1 and precision of the N best every recording is to "
                              f"reach (default: {BAR:g} for a stream-like recording, "
                              f"{NOISE_BAR:g} for a noise bed)")
    stood = commands.add_parser("stand", help="how far the reactions stand out of the sound "
                                              "around them, heard whole and in the voice's "
                                              "band, by the bed's level")
    stood.add_argument("folder", type=Path, help="the folder of recordings and their truth")
    args = parser.parse_args(argv)
    code = 0
    try:
        if args.command == "make":
            out = make(args.file, args.duration, seed=args.seed, bed_db=args.bed_db,
                       split=args.split, rate=args.rate,
                       mic=corpus.OBS_COMPRESSOR if args.mic == "obs" else args.mic)
            what = "moment" if args.split == NOISE else "reaction"
            print(f"{args.file}: {count(len(read_truth(out).reactions), what)}; its truth: {out}")
        elif args.command == "tally":
            text, unrun = tally(args.folder, args.out, args.bar)
            print(text)
            code = 1 if unrun else 0
        elif args.command == "stand":
            print(stand(args.folder))
        else:
            highlights, _ = read_highlights(args.highlights)
            print(report(read_truth(args.truth), highlights))
        sys.stdout.flush()
    except BrokenPipeError:  # its reader went away (``… score … | head -1``): nothing said
        return stops.drop_output()
    except M0Error as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
