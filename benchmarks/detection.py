"""The detection suite: how well each analyzer × selector finds the moments of recordings
with ground truth — stream-like recordings of real sound (:mod:`m0core.dev.corpus`) and the
noise beds of tests/test_detection.py (:mod:`m0core.dev.synth`).

Each file is decoded once by the real ``ffmpeg`` source and fed to every analyzer and to the
spectra (:mod:`m0core.judge.spectra`); each selector then runs on the analyzer's score curve,
hearing the spectra if it listens, exactly as ``m0 analyze`` runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from m0core import plugins
from m0core.dev import synth
from m0core.judge import spectra
from m0core.model import Highlight, Timeline
from m0core.options import Options

from .media import MEDIA
from .report import Table

#: (label, analyzer, selector, threshold, selector params). The first is m0's default.
CONFIGS: list[tuple[str, str, str, float | None, dict]] = [
    ("**m0 default** (rms-streaming + standout)", Options.analyzer, Options.selector, None, {}),
    ("m0 default without the check (-P selector.check=false)", Options.analyzer,
     Options.selector, None, {"check": False}),
    ("previous default (rms-streaming + adaptive)", "rms-streaming", "adaptive", None, {}),
    ("seed's rule (rms-streaming + crest −5 dBFS)", "rms-streaming", "crest", -5.0, {}),
    ("loudness + standout", "loudness", "standout", None, {}),
    ("loudness + adaptive", "loudness", "adaptive", None, {}),
    ("loudness + crest −5", "loudness", "crest", -5.0, {}),
    ("onset + standout", "onset", "standout", None, {}),
    ("onset + adaptive", "onset", "adaptive", None, {}),
    ("rms-streaming + top N (ranking only)", "rms-streaming", "top", None, {"max_clips": "N"}),
    ("loudness + top N (ranking only)", "loudness", "top", None, {"max_clips": "N"}),
    ("onset + top N (ranking only)", "onset", "top", None, {"max_clips": "N"}),
]


@dataclass(frozen=True)
class Case:
    """One benchmark file: its path, what it is, its bed level and its true moments."""

    path: Path
    label: str
    bed_db: float
    events: list[synth.Event]


@dataclass(frozen=True)
class Score:
    """Precision, recall, F1 and precision of the N best (N = true count) of one run."""

    precision: float
    recall: float
    f1: float
    p_at_n: float
    found: int
    false: int
    events: int


def score(events: list[synth.Event], highlights: list[Highlight]) -> Score:
    """Compare ``highlights`` with ``events`` (:func:`m0core.dev.synth.match_events` rules); the
    N best are the N highest-scoring highlights, N = number of events."""
    match = synth.match_events(events, highlights)
    return Score(match.precision, match.recall, match.f1, synth.top_precision(events, highlights),
                 match.found, match.false, len(events))


#: Score curves already decoded this run: ``{(path, analyzer): (curve, hop, duration)}``
#: (each table of the suite reads the same files; a 10-minute curve is ~50 kB).
_DECODED: dict[tuple[Path, str], tuple[np.ndarray, float, float]] = {}
#: The spectra of the files decoded this run: ``{path: (codes, first frame)}`` (10 minutes:
#: 576 kB).
_HEARD: dict[Path, tuple[np.ndarray, int]] = {}


def curves(path: Path, analyzers: Iterable[str]) -> tuple[dict[str, np.ndarray], dict, float]:
    """Decode ``path`` once with the ffmpeg source and feed every analyzer: their score
    curves, hops and the decoded duration (kept for the run: a second call decodes only
    for analyzers not fed yet)."""
    wanted = list(dict.fromkeys(analyzers))
    missing = [name for name in wanted if (path, name) not in _DECODED]
    if missing:
        source = plugins.create("sources", "ffmpeg")
        parts = {name: plugins.create("analyzers", name) for name in missing}
        out: dict[str, list[np.ndarray]] = {name: [] for name in parts}
        end = 0.0
        heard, codes = spectra.Heard(), []
        for chunk in source.chunks(str(path)):
            end = chunk.end
            for name, analyzer in parts.items():
                out[name].append(np.asarray(analyzer.feed(chunk), dtype=np.float32))
            if path not in _HEARD:
                codes.append(heard.feed(chunk))
        if codes and sum(len(c) for c, _ in codes):
            _HEARD[path] = (np.concatenate([c for c, _ in codes]), codes[0][1])
        for name, analyzer in parts.items():
            out[name].append(np.asarray(analyzer.finish(), dtype=np.float32))
            _DECODED[path, name] = (np.concatenate(out[name]), float(analyzer.hop), end)
    got = {name: _DECODED[path, name] for name in wanted}
    return ({name: v[0] for name, v in got.items()}, {name: v[1] for name, v in got.items()},
            next(iter(got.values()))[2] if got else 0.0)


def select(curve: np.ndarray, hop: float, duration: float, selector: str,
           threshold: float | None, params: dict, *, feed: float = 60.0,
           heard: tuple[np.ndarray, int] | None = None) -> list[Highlight]:
    """Run ``selector`` over ``curve`` in pieces of ``feed`` seconds, as the pipeline does:
    the spectra ``heard`` (codes, first frame; :func:`curves` made them) of each piece's audio
    first, if the selector listens."""
    chooser = plugins.create("selectors", selector, threshold=threshold,
                             timeline=Timeline(hop=hop, duration=duration), **params)
    listen = getattr(chooser, "listen", None) if heard is not None else None
    codes, first = heard if listen is not None else (None, 0)
    out: list[Highlight] = []
    for values, piece, at in spectra.pieces(len(curve), hop, max(1, int(feed / hop)), codes,
                                            first):
        if len(piece):
            listen(piece, at)
        out += chooser.feed(curve[values])
    return out + chooser.finish()


def spectra_of(path: Path) -> tuple[np.ndarray, int] | None:
    """The spectra :func:`curves` made of ``path`` (``None``: its rate is too low)."""
    return _HEARD.get(path)


def realistic(seeds: dict[str, list[tuple[int, float]]], duration: float) -> list[Case]:
    """Stream-like files of real sound (made once, kept in benchmarks/.media/)."""
    from m0core.dev import corpus

    folder = MEDIA / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for split, plan in seeds.items():
        for seed, bed_db in plan:
            name = f"stream_{split}_{seed}_{-bed_db:.0f}dB_{duration:g}s_v{corpus.VERSION}"
            path, meta = folder / f"{name}.m4a", folder / f"{name}.json"
            if not (path.exists() and meta.exists()):
                truth = corpus.write(path, duration, seed=seed, bed_db=bed_db, split=split)
                meta.write_text(json.dumps([asdict(e) for e in truth.reactions]))
            events = [synth.Event(**e) for e in json.loads(meta.read_text())]
            cases.append(Case(path, f"stream {split} seed {seed}", bed_db, events))
    return cases


def noise_beds(plan: list[tuple[int, float]], duration: float) -> list[Case]:
    """The noise-bed recordings of tests/test_detection.py
    (:func:`m0core.dev.synth.write_audio`)."""
    folder = MEDIA / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for seed, bed_db in plan:
        path = folder / f"noise_{seed}_{-bed_db:.0f}dB_{duration:g}s.flac"
        events = synth.plan_events(duration, seed=seed)
        if not path.exists():
            synth.write_audio(path, duration, seed=seed, bed_db=bed_db)
        cases.append(Case(path, f"noise bed seed {seed}", bed_db, events))
    return cases


def evaluate(cases: list[Case], configs: list[tuple]) -> dict[tuple[str, str], Score]:
    """Every config of ``configs`` on every case: ``{(case label, config label): Score}``."""
    needed = sorted({c[1] for c in configs})
    results = {}
    for case in cases:
        scores, hops, duration = curves(case.path, needed)
        for label, analyzer, selector, threshold, params in configs:
            kw = {k: (len(case.events) if v == "N" else v) for k, v in params.items()}
            found = select(scores[analyzer], hops[analyzer], duration, selector, threshold, kw,
                           heard=spectra_of(case.path))
            results[case.label, label] = score(case.events, found)
    return results


def _cases(realistic_plan: dict[str, list[tuple[int, float]]], realistic_seconds: float,
           noise_plan: list[tuple[int, float]], noise_seconds: float
           ) -> tuple[list[Case], list[str]]:
    """The files of a plan (the stream-like ones of a split only where that split's packages
    are installed) and a note for each kind left out."""
    from m0core.dev import corpus

    notes, plan = [], {}
    for split, seeds in realistic_plan.items():
        why = corpus.missing(split)
        if why:
            notes.append(f"stream {split} files skipped: {why}")
        else:
            plan[split] = seeds
    cases = realistic(plan, realistic_seconds)
    return cases + noise_beds(noise_plan, noise_seconds), notes


def _tally(scores: list[Score]) -> tuple[float, float, float]:
    """Precision and recall over all moments of ``scores``, and highlights per true moment."""
    found = sum(s.found for s in scores)
    kept = found + sum(s.false for s in scores)
    events = sum(s.events for s in scores)
    return (found / kept if kept else 1.0, found / events if events else 1.0,
            kept / events if events else 0.0)


def _precision_recall(scores: list[Score]) -> str:
    p, r, _ = _tally(scores)
    return f"P {p:.2f} R {r:.2f} min F1 {min(s.f1 for s in scores):.2f}"


def _share(scores: list[Score]) -> str:
    p, r, per = _tally(scores)
    return f"R {r:.2f} · P {p:.2f} · {per:.2f}×"


def _group_row(head: list[str], members: list[Case], keys: list, results: dict,
               cell) -> list[str]:
    """A row over the files ``members`` together: ``head``, their moments, then ``cell`` of
    their scores under each of ``keys`` (``results[case label, key]``)."""
    return head + [str(sum(len(c.events) for c in members))] + [
        cell([results[c.label, key] for c in members]) for key in keys]


def _cell(s: Score) -> str:
    return f"{s.f1:.2f} / {s.p_at_n:.2f}"


def suite(realistic_plan: dict[str, list[tuple[int, float]]], realistic_seconds: float,
          noise_plan: list[tuple[int, float]], noise_seconds: float, *,
          onset: bool = True) -> Table:
    """The detection table: F1 / P@N per file (rows) and config (columns), then each config's
    precision, recall and F1 over all moments of each kind of file. ``onset=False`` leaves
    out the configurations of the ``onset`` analyzer (the slowest by far)."""
    cases, notes = _cases(realistic_plan, realistic_seconds, noise_plan, noise_seconds)
    configs = [c for c in CONFIGS if onset or c[1] != "onset"]
    if not onset:
        notes.append("onset configurations left out of this run: the onset analyzer costs "
                     "about 20× rms-streaming's time; see the quick run")
    results = evaluate(cases, configs)
    labels = [c[0] for c in configs]
    table = Table("Detection: F1 / precision of the top N (N = true moments) per file",
                  ["file", "bed", "moments"] + labels)
    for case in cases:
        table.rows.append([case.label, f"{case.bed_db:+.0f} dBFS", str(len(case.events))]
                          + [_cell(results[case.label, label]) for label in labels])
    for group in ("stream dev", "stream validation", "stream outside", "noise bed"):
        members = [c for c in cases if c.label.startswith(group)]
        if not members:
            continue
        table.rows.append(_group_row([f"**all {group} files**", ""], members, labels, results,
                                     _precision_recall))
    table.notes += notes + [
        "cells: F1 / P@N. F1 of precision (highlights on a true moment) and recall (moments "
        "whose clip holds their onset), by m0core.dev.synth.match_events; P@N: precision of the "
        "N highest-scoring highlights the configuration gives (what --max-clips N keeps).",
        "stream files: m0core.dev.corpus — real recorded game music, talk, game effects and "
        "shouted reactions (the moments) from Debian packages, with distractors (door slams, "
        "coughs, notifications, music swells); 'dev' files use the recordings detection was "
        "tuned on, 'validation' files other voices, music and speech of the same packages, "
        "'outside' files (same rules) only recordings of other packages (other games' music, "
        "voices and effects, other speech and notification sounds). Encoded AAC (.m4a), "
        "decoded by the ffmpeg source.",
        "noise bed files: m0core.dev.synth (tests/test_detection.py): cheers, shouts, spikes on a "
        "drifting noise bed.",
    ]
    return table


#: The sensitivities of :func:`knob`'s columns (0.5 is the default).
SENSITIVITIES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: The rows of :func:`knob`: (name, files whose label starts with, lowest and highest bed dBFS).
BED_GROUPS = (
    ("stream files, quiet bed (−40 … −34 dBFS)", "stream", -99.0, -34.0),
    ("stream files, normal bed (−33 … −25 dBFS)", "stream", -33.5, -24.5),
    ("stream files, loud bed (−24 … −18 dBFS)", "stream", -24.0, 0.0),
    ("noise beds, −42 dBFS", "noise bed", -99.0, -37.0),
    ("noise beds, −32 dBFS", "noise bed", -37.0, -27.0),
    ("noise beds, −22 dBFS", "noise bed", -27.0, 0.0),
)


def knob(realistic_plan: dict[str, list[tuple[int, float]]], realistic_seconds: float,
         noise_plan: list[tuple[int, float]], noise_seconds: float) -> Table:
    """What ``--sensitivity`` does on quiet and loud beds: m0's default analyzer and selector
    at each of :data:`SENSITIVITIES`, on the files of each bed level together — recall,
    precision and highlights per true moment. The knob means the same everywhere when a
    column reads alike down the rows."""
    cases, notes = _cases(realistic_plan, realistic_seconds, noise_plan, noise_seconds)
    table = Table("Detection: what --sensitivity does on quiet and loud beds "
                  "(m0's default; recall · precision · highlights per true moment)",
                  ["files", "moments"] + [f"sensitivity {s:g}" + (" (default)" if s == 0.5
                                                                  else "")
                                          for s in SENSITIVITIES])
    found: dict[tuple[str, float], Score] = {}
    for case in cases:
        scores, hops, duration = curves(case.path, [Options.analyzer])
        for s in SENSITIVITIES:
            got = select(scores[Options.analyzer], hops[Options.analyzer], duration,
                         Options.selector, None, {"sensitivity": s},
                         heard=spectra_of(case.path))
            found[case.label, s] = score(case.events, got)
    for name, kind, low, high in BED_GROUPS:
        members = [c for c in cases if c.label.startswith(kind) and low <= c.bed_db <= high]
        if not members:
            continue
        table.rows.append(_group_row([f"{name}: {len(members)} files"], members,
                                     list(SENSITIVITIES), found, _share))
    table.notes += notes + [
        "each cell: recall (true moments found), precision (highlights on a true moment) and "
        "how many highlights there are per true moment, over all files of the row; the files "
        "are those of the table above (dev, validation and outside together)",
        "--sensitivity moves every margin of standout by the same dB over each moment's own "
        "bed (±4 dB at 0 and 1), so a step means the same on a quiet or a loud recording",
    ]
    return table
