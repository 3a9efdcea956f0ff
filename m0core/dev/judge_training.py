"""Train the check of what a moment sounds like (:mod:`m0core.judge.check`) and write its
model, ``m0core/judge/check.npz``::

    python -m m0core.dev.judge_training WORK_FOLDER            # writes the model
    python -m m0core.dev.judge_training WORK_FOLDER --halves   # the dev protocol

Everything comes from the development split (``corpus-packages.txt``'s Debian packages, the
part of each pool :mod:`m0core.dev.corpus` gives ``split="dev"``) and from noise beds
(:mod:`m0core.dev.synth`): 100 stream-like recordings of 10 min (seeds 1000–1039 and
1200–1259, beds −40…−18 dBFS) and 12 noise-bed recordings (seeds 200–211), made once in
``WORK_FOLDER`` — and 40 more of the dev split whose reactions are another game's people
speaking (seeds 1300–1339: MegaGlest's, :func:`m0core.dev.corpus.training_voices`; install
``corpus-packages-training.txt``'s package, about 240 MB), so the check does not learn one
game's voices as what a reaction sounds like.
Nothing of the validation or outside splits. Each recording is decoded by the default source,
scored by ``rms-streaming`` and looked at by ``standout`` at sensitivity 0.95 (more moments
than the default keeps: the check learns from near misses too); a moment is a reaction when
its peak is within 2 s of one. Needs scikit-learn (``pip install scikit-learn``).

It writes the second look's model too, ``m0core/judge/voiced.npz``
(:mod:`m0core.judge.voiced`; ``--voiced-out``): from the same recordings and 80 more of the
dev split whose streamer's voice went through a compressor (seeds 1400–1479,
:data:`MIC_SEEDS`: OBS's at its defaults, and the same with the voice brought to −20 dBFS
before it and back after, so it squeezes at every bed level), every moment it judges
(:meth:`Recording.offered`: the loose moments of the scores and of the voice's band that
the first look, ``standout`` without its second look, leaves: none within ``min_gap`` of a
moment it keeps), a reaction when its peak is within 2 s of one; ten models of 300 trees of
depth 3 (:data:`VOICED_TREES`), bagged as the check's are. Its settings and ``KEEP_FROM`` were
chosen on held-out sets of development seeds (docs/benchmarks.md, "the second look").

The shipped check is what this module wrote, byte for byte, with the libraries of its day
(with others the trees' thresholds and leaves can differ in their last digits, from the
recordings, their decoding or the fit: with scikit-learn 1.9.1, numpy 2.4.6 and PyAV 18.1.0
the same 2,687 moments and 1,439 reactions gave a model whose highlights on 48 fresh
recordings were the shipped one's, their scores within 0.04). It is the mean (in log-odds)
of ten models (:func:`bagged`), each fitted by :func:`fit` on the 152 recordings drawn with
replacement (the 60 recordings of seeds 1200–1259 and the shape of a moment,
:func:`m0core.judge.check.shape`, joined at one change, the 40 of another game's voices at a
later one, the ten models at a later one, the selector's score left out of what the check
reads at the last; see docs/detection-log.md). One model fitted
on them all, as before, is not shipped: with :data:`m0core.levels.SILENT_DB` at -99 dB it was
no better than the one trained at -90 dB, and the ten were. No other check this module was
made to write (other recordings, features or trees) is shipped: docs/detection-log.md's bullets
"tried and not shipped: the check …" say what each was and what it gave.

``--halves`` is the development-only protocol that chose the model's settings (its trees, depth
and learning rate; its features and recordings were chosen on fresh seeds, as the detection
log, docs/detection-log.md, says): the dev pools are split in two (speakers, effects,
music, talk and notification sounds taken alternately), 20 recordings are made from each half
(seeds 2000–2019 and 2100–2119), and a model trained on one half's recordings (with the noise
beds) judges the other half's default highlights: every voice and effect judged is one it never
heard. It prints the default's and the checked default's precision, recall and F1 over the 40,
and the precision of their top N (N: a recording's reactions; the checked ones ranked as
``standout`` ranks them, by their score times their chance), and the ceiling of any check: the
default's highlights that are reactions, as a check that never erred would keep them (what is
missed there, no check can find; what the checked default does worse, its check cost). The
default's faint moments (``standout`` keeps those only where its check hears a reaction) are
not among the highlights judged here: the protocol judges what ``standout`` gives without its
check, so its figures leave them out.

What the protocol cannot see: every reaction of the dev split is a Hedgewars voice line, so
both halves share one game's voices (it leaves the other game's recordings out). A sharper
check rated better here (600 trees trained on 80 recordings a half, dropping under 1 %, with
standout's margins 1 dB lower: mean F1 0.966 against 0.945, 2 files under 0.9 against 9) and
lost reactions of other games' voices
(``python -m benchmarks --only detection``: outside recall 0.96 → 0.90, validation 0.96 →
0.94): read those rows before shipping a change the protocol favours.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from m0core import plugins
from m0core.judge import check, spectra, voiced
from m0core.model import Highlight, Timeline

from . import corpus, synth

#: The dev-split recordings: each group's seeds, and the seed of the generator that draws
#: their beds' levels.
DEV_SEEDS = ((range(1000, 1040), 7), (range(1200, 1260), 9))
#: The recordings whose reactions are another game's people speaking
#: (:func:`m0core.dev.corpus.training_voices`), all else the dev split's: their seeds and the
#: seed of the generator that draws their beds' levels.
OTHER_SEEDS = (range(1300, 1340), 11)
NOISE_SEEDS = range(200, 212)
#: The recordings whose streamer's voice went through a compressor
#: (:data:`m0core.dev.corpus.OBS_COMPRESSOR`), for the second look
#: (:mod:`m0core.judge.voiced`): their seeds and the seed of the generator that draws their
#: beds' levels; at the compressor's own gain, and with the voice first brought to a bed of
#: -20 dBFS (and back after), so the compressor squeezes it at every bed level.
MIC_SEEDS = ((range(1400, 1440), 13), (range(1440, 1480), 14))
HALF_SEEDS = (range(2000, 2020), range(2100, 2120))
#: The shipped check is the mean (of their log-odds) of this many models, each fitted by
#: :func:`fit` on the training recordings drawn with replacement by
#: ``numpy.random.default_rng(BAG_DRAW)``.
BAGS = 10
BAG_DRAW = 72
LOOSE = {"sensitivity": check.LOOSE_SENSITIVITY}


@dataclass
class Recording:
    """A recording's default source's spectra and ``rms-streaming`` scores, and its truth."""

    name: str
    codes: np.ndarray
    scores: np.ndarray
    hop: float
    duration: float
    events: list[synth.Event]
    #: The features measured so far, by peak time: each moment is measured once, though the
    #: loose moments are read both as moments judged and as what later ones are set against.
    _measured: dict[float, np.ndarray | None] = field(default_factory=dict, init=False,
                                                      repr=False, compare=False)

    def moments(self, curve: np.ndarray | None = None, **params: float) -> list[Highlight]:
        """``standout``'s highlights of ``curve`` (the scores by default) with ``params``,
        without its check (what the check is trained on and judges)."""
        return self._selected(self.scores if curve is None else curve, None, check=False,
                              **params)

    def _selected(self, curve: np.ndarray, codes: np.ndarray | None, **params: float | bool
                  ) -> list[Highlight]:
        """``standout``'s highlights of ``curve`` with ``params``, fed a minute at a time as
        the pipeline feeds it (each minute's spectra of ``codes`` first, where given)."""
        chooser = plugins.create("selectors", "standout",
                                 timeline=Timeline(hop=self.hop, duration=self.duration),
                                 **params)
        return fed(chooser, curve, self.hop, 60.0, codes)

    @cached_property
    def voice(self) -> np.ndarray:
        """The level of the voice's band in each score value
        (:func:`m0core.judge.voiced.voice_values`)."""
        per = voiced.frames_per_value(self.hop)
        assert per is not None, f"a hop of {self.hop} s is not a whole number of frames"
        return voiced.voice_values(voiced.voice_power(self.codes), per)[:len(self.scores)]

    def first_look(self) -> list[Highlight]:
        """``standout``'s default highlights without its second look, fed as a run feeds it."""
        return self._selected(self.scores, self.codes, second_look=False)

    def offered(self) -> list[tuple[float, float, float]]:
        """The moments the second look judges (:func:`m0core.judge.voiced.offers`): from the
        loose moments of the scores and of the voice's band, those at least ``min_gap``
        seconds from every highlight of the :meth:`first_look` (what it leaves)."""
        def pairs(hs: list[Highlight]) -> list[tuple[float, float]]:
            return [(h.peak_time, h.score) for h in hs]

        gap = Timeline(hop=self.hop).min_gap
        first = [h.peak_time for h in self.first_look()]
        return [o for o in voiced.offers(pairs(self.loose),
                                         pairs(self.moments(self.voice, **LOOSE)))
                if all(abs(o[0] - t) >= gap for t in first)]

    def voiced_rows(self) -> list[tuple[float, np.ndarray]]:
        """Each moment offered to the second look (where a second of its core is there):
        its peak time and what the second look reads of it
        (:func:`m0core.judge.voiced.features`)."""
        offered = self.offered()
        rows = []
        for (t, whole, voice), x in zip(offered, self.judged([t for t, _, _ in offered]),
                                        strict=True):
            if x is not None:
                rows.append((t, voiced.features(x, self.scores, self.voice,
                                                voiced.value_of(t, self.hop), self.hop, whole,
                                                voice)))
        return rows

    @cached_property
    def loose(self) -> list[Highlight]:
        """The loose moments (``standout`` at :data:`LOOSE`, no check): what the check is
        trained on, and what each moment it judges is set against (made once)."""
        return self.moments(**LOOSE)

    def real(self, h: Highlight | float) -> bool:
        """Whether ``h`` (a highlight or a peak time) is a reaction: its peak within 2 s of
        one."""
        t = _time(h)
        return any(e.time - 2 <= t <= e.end + 2 for e in self.events)

    def features(self, moments: list[Highlight] | list[float]) -> list[np.ndarray | None]:
        """The check's features of each moment (``None`` where less than a second of its
        core is there)."""
        times = [_time(h) for h in moments]
        for t in times:
            if t not in self._measured:
                self._measured[t] = check.features(self.codes, 0, t)
        return [self._measured[t] for t in times]

    def judged(self, moments: list[Highlight] | list[float]) -> list[np.ndarray | None]:
        """What the check reads of each of ``moments`` (in time order; ``None`` where less than
        a second of its core is there): its features set against the recording's loose moments
        before it, as ``standout`` sets them — each loose moment heard before the moments it
        precedes are judged, so what :class:`~m0core.judge.check.Earlier` keeps of a long recording
        is what it keeps in a run."""
        earlier = check.Earlier()
        loose = list(zip(self.loose, self.features(self.loose), strict=True))
        heard = 0
        out: list[np.ndarray | None] = []
        for h, x in zip(moments, self.features(moments), strict=True):
            while heard < len(loose) and \
                    loose[heard][0].peak_time < _time(h) - check.EARLIER_GAP:
                if loose[heard][1] is not None:
                    earlier.add(loose[heard][0].peak_time, loose[heard][1])
                heard += 1
            out.append(None if x is None else check.judged(x, earlier.reference(_time(h))))
        return out


def fed(chooser: Any, curve: np.ndarray, hop: float, seconds: float,
        codes: np.ndarray | None = None) -> list[Highlight]:
    """The highlights of a selector ``chooser`` fed the curve ``curve`` (``hop`` seconds a
    value) ``seconds`` at a time as a run feeds it, each piece's spectra of ``codes`` (frame
    0 on; none: ``None``) first."""
    out: list[Highlight] = []
    for values, heard, first in spectra.pieces(len(curve), hop, int(round(seconds / hop)),
                                               codes):
        if len(heard):
            chooser.listen(heard, first)
        out += chooser.feed(curve[values])
    return out + chooser.finish()


def _time(h: Highlight | float) -> float:
    """A moment's peak time (``h`` itself where it is one)."""
    return h if isinstance(h, float) else h.peak_time


def measured(path: Path, events: list[synth.Event]) -> Recording:
    """Decode ``path`` with the default source, feeding ``rms-streaming`` and the spectra."""
    source = plugins.create("sources", "pyav")
    analyzer = plugins.create("analyzers", "rms-streaming")
    heard, frames, scores, end = spectra.Heard(), [], [], 0.0
    for chunk in source.chunks(str(path)):
        frames.append(heard.feed(chunk)[0])
        scores.append(np.asarray(analyzer.feed(chunk), dtype=np.float32))
        end = chunk.end
    scores.append(np.asarray(analyzer.finish(), dtype=np.float32))
    return Recording(path.stem, np.concatenate(frames), np.concatenate(scores),
                     float(analyzer.hop), end, events)


def _stream(folder: Path, name: str, seed: int, bed: float, sounds: dict | None = None,
            mic: str | None = None) -> Recording:
    path, meta = folder / f"{name}.m4a", folder / f"{name}.json"
    if not (path.exists() and meta.exists()):
        truth = corpus.write(path, 600, seed=seed, bed_db=bed, split="dev", sounds=sounds,
                             mic=mic)
        meta.write_text(json.dumps({"bed": bed, "reactions": [asdict(e)
                                                                for e in truth.reactions]}))
    events = [synth.Event(**e) for e in json.loads(meta.read_text())["reactions"]]
    return measured(path, events)


def _drawn(folder: Path, prefix: str, seeds: range, draw: int, sounds: dict | None = None
           ) -> list[Recording]:
    """Recordings of ``seeds`` (made on first use), their beds −40…−18 dBFS drawn by
    ``numpy.random.default_rng(draw)``."""
    rng = np.random.default_rng(draw)
    return [_stream(folder, f"{prefix}_{seed}", seed,
                    float(np.round(rng.uniform(-40, -18), 1)), sounds) for seed in seeds]


def dev_recordings(folder: Path) -> list[Recording]:
    """The 100 dev-split recordings (made on first use)."""
    return [r for seeds, draw in DEV_SEEDS for r in _drawn(folder, "dev", seeds, draw)]


def other_recordings(folder: Path) -> list[Recording]:
    """The 40 recordings whose reactions are another game's voices (made on first use)."""
    sounds = {**corpus.pools("dev"), "voices": corpus.training_voices()}
    return _drawn(folder, "other", *OTHER_SEEDS, sounds)


def mic_recordings(folder: Path) -> list[Recording]:
    """The 80 dev-split recordings through a compressed mic (made on first use)."""
    out = []
    for (seeds, draw), prefix in zip(MIC_SEEDS, ("mic", "gmic"), strict=True):
        rng = np.random.default_rng(draw)
        for seed in seeds:
            bed = float(np.round(rng.uniform(-40, -18), 1))
            gain = -20.0 - bed
            mic = corpus.OBS_COMPRESSOR if prefix == "mic" else \
                f"volume={gain:.1f}dB,{corpus.OBS_COMPRESSOR},volume={-gain:.1f}dB"
            out.append(_stream(folder, f"{prefix}_{seed}", seed, bed, mic=mic))
    return out


def noise_recordings(folder: Path) -> list[Recording]:
    """The 12 noise-bed recordings (made on first use)."""
    out = []
    for seed in NOISE_SEEDS:
        path = folder / f"noise_{seed}.flac"
        if not path.exists():
            synth.write_audio(path, 600, seed=seed, bed_db=(-42.0, -32.0, -22.0)[seed % 3])
        out.append(measured(path, synth.plan_events(600, seed=seed)))
    return out


def half_recordings(folder: Path, half: int) -> list[Recording]:
    """20 recordings of one half of the dev pools (made on first use)."""
    part = {k: (v[half::2] if k in ("voices", "effects", "music", "talk", "notifications")
                else v) for k, v in corpus.pools("dev").items()}
    rng = np.random.default_rng(100 + half)
    beds = [float(np.round(rng.uniform(-40, -18), 1)) for _ in HALF_SEEDS[half]]
    return [_stream(folder, f"h{half}_{seed}", seed, bed, part)
            for seed, bed in zip(HALF_SEEDS[half], beds, strict=True)]


def training_set(recordings: list[Recording]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every loose ``standout`` moment of ``recordings``."""
    xs, ys = [], []
    for r in recordings:
        for h, x in zip(r.loose, r.judged(r.loose), strict=True):
            if x is not None:
                xs.append(x)
                ys.append(r.real(h))
    return np.array(xs).reshape(-1, check.SIZE), np.array(ys, dtype=bool)


def voiced_set(recordings: list[Recording]) -> tuple[np.ndarray, np.ndarray]:
    """What the second look reads (:func:`m0core.judge.voiced.features`) of every moment
    offered to it in ``recordings``, and whether each is a reaction."""
    rows = [(x, r.real(t)) for r in recordings for t, x in r.voiced_rows()]
    return (np.array([x for x, _ in rows]).reshape(-1, voiced.SIZE),
            np.array([y for _, y in rows], dtype=bool))


#: The check's trees: depth, how many, learning rate, L2; the second look's.
CHECK_TREES = (2, 200, 0.05, 1.0)
VOICED_TREES = (3, 300, 0.05, 0.0)


def fit(x: np.ndarray, y: np.ndarray, trees: tuple[int, int, float, float] = CHECK_TREES
        ) -> check.Trees:
    """One model of ``trees`` (:data:`CHECK_TREES`: depth 2, 200 trees, learning rate 0.05,
    L2 1.0)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    depth, count, rate, l2 = trees
    clf = HistGradientBoostingClassifier(max_depth=depth, learning_rate=rate, max_iter=count,
                                         l2_regularization=l2, random_state=0).fit(x, y)
    grown = [p[0].nodes for p in clf._predictors]
    width = max(len(t) for t in grown)

    def table(field: str, fill: float, dtype: type) -> np.ndarray:
        out = np.full((len(grown), width), fill, dtype=dtype)
        for i, nodes in enumerate(grown):
            out[i, :len(nodes)] = nodes[field]
        return out

    feature = table("feature_idx", -1, np.int64)
    feature[table("is_leaf", 1, np.int64).astype(bool)] = -1
    model = check.Trees(feature=feature, threshold=table("num_threshold", 0.0, np.float64),
                        left=table("left", 0, np.int64), right=table("right", 0, np.int64),
                        missing_left=table("missing_go_to_left", 1, np.int64).astype(bool),
                        value=table("value", 0.0, np.float64),
                        baseline=float(np.ravel(clf._baseline_prediction)[0]))
    assert np.allclose(model.chance(x), clf.predict_proba(x)[:, 1]), "trees read wrongly"
    return model


def bagged(parts: list[tuple[np.ndarray, np.ndarray]], bags: int = BAGS, draw: int = BAG_DRAW,
           trees: tuple[int, int, float, float] = CHECK_TREES) -> check.Trees:
    """One model whose chance is the logistic of the mean log-odds of ``bags`` models, each
    fitted by :func:`fit` on as many recordings' rows as ``parts`` holds (one ``(x, y)`` a
    recording, as :func:`training_set` gives them), drawn with replacement by
    ``numpy.random.default_rng(draw)``: where one model's chance of a weak reaction or a sound
    as loud turns on which recordings it was fitted on, the mean does not. Their trees are kept
    as one table (each leaf's value over ``bags``, the mean baseline)."""
    rng = np.random.default_rng(draw)
    models = []
    for _ in range(bags):
        drawn = [parts[i] for i in rng.choice(len(parts), size=len(parts))]
        models.append(fit(*(np.concatenate(p) for p in zip(*drawn, strict=True)), trees))
    width = max(m.feature.shape[1] for m in models)

    def table(field: str, fill: float | bool) -> np.ndarray:
        return np.concatenate([np.pad(getattr(m, field), ((0, 0), (0, width - m.feature.shape[1])),
                                      constant_values=fill) for m in models])

    model = check.Trees(feature=table("feature", -1), threshold=table("threshold", 0.0),
                        left=table("left", 0), right=table("right", 0),
                        missing_left=table("missing_left", True),
                        value=table("value", 0.0) / bags,
                        baseline=float(np.mean([m.baseline for m in models])))
    x = np.concatenate([x for x, _ in parts])
    assert np.allclose(model.odds(x), np.mean([m.odds(x) for m in models], axis=0)), \
        "trees joined wrongly"
    return model


def checked(r: Recording, model: check.Trees) -> tuple[list[Highlight], list[Highlight]]:
    """``r``'s default highlights, and those the check keeps (their scores weighed by their
    chance, as ``standout`` weighs them)."""
    default = r.moments()
    kept = []
    for h, x in zip(default, r.judged(default), strict=True):
        score = check.weighed(h.score, None if x is None else float(model.chance(x)[0]))
        if score is not None:
            kept.append(replace(h, score=score))
    return default, kept


def _summary(label: str, rows: list[tuple[Recording, list[Highlight]]]) -> str:
    """Precision, recall, F1 and precision of the top N of ``rows`` by the benchmark's rules
    (:func:`m0core.dev.synth.match_events`; N: the recording's reactions)."""
    found = false = events = 0
    f1s, tops = [], []
    for r, hs in rows:
        match = synth.match_events(r.events, hs)
        found, false, events = found + match.found, false + match.false, events + match.events
        f1s.append(match.f1)
        tops.append(synth.top_precision(r.events, hs))
    f1, top = np.array(f1s), np.array(tops)
    return (f"{label:10s} P {found / max(1, found + false):.2f} R {found / events:.2f} "
            f"mean F1 {f1.mean():.3f} min F1 {f1.min():.2f} files F1 < 0.9: {(f1 < 0.9).sum()}; "
            f"mean P@N {top.mean():.3f}, files P@N < 0.9: {(top < 0.9).sum()}")


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="folder for the recordings (kept)")
    parser.add_argument("--halves", action="store_true", help="the protocol, no model written")
    parser.add_argument("--out", type=Path, default=check.MODEL, help="the check's file")
    parser.add_argument("--voiced-out", type=Path, default=voiced.MODEL,
                        help="the second look's file")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.halves:
        noise = training_set(noise_recordings(args.work))
        halves = [half_recordings(args.work, h) for h in (0, 1)]
        models = [fit(*[np.concatenate(p) for p in zip(training_set(rs), noise, strict=True)])
                  for rs in halves]
        judged = [(r, checked(r, models[1 - h])) for h in (0, 1) for r in halves[h]]
        print(_summary("default", [(r, d) for r, (d, _) in judged]))
        print(_summary("checked", [(r, k) for r, (_, k) in judged]))
        print(_summary("ceiling", [(r, [h for h in d if r.real(h)]) for r, (d, _) in judged]))
        return
    recordings = (dev_recordings(args.work) + other_recordings(args.work)
                  + noise_recordings(args.work))
    parts = [training_set([r]) for r in sorted(recordings, key=lambda r: r.name)]
    y = np.concatenate([y for _, y in parts])
    bagged(parts).save(args.out)
    print(f"{args.out}: {len(y)} moments, {int(y.sum())} reactions, {BAGS} models")
    recordings += mic_recordings(args.work)
    parts = [voiced_set([r]) for r in sorted(recordings, key=lambda r: r.name)]
    y = np.concatenate([y for _, y in parts])
    bagged(parts, trees=VOICED_TREES).save(args.voiced_out)
    print(f"{args.voiced_out}: {len(y)} moments offered, {int(y.sum())} reactions, "
          f"{BAGS} models")


if __name__ == "__main__":
    main()
