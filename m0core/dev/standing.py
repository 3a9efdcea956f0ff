"""How far a recording's reactions stand out of the sound around them, heard two ways: the
whole sound, and the voice's band alone (:data:`VOICE_BAND`).

A detector that reads loudness finds what stands out; this measures what there is to find.
A reaction through a compressor on the mic (``heldout make … --mic obs``) stands a few dB
over the talk around it, where the same reaction as made stands 14 or more: a sign that
loudness alone will not find it, before any run. The voice's band leaves out the music's
bass and the hiss over it, where a voice is weak, so a voice that is squeezed still stands
further there.

Each recording is decoded to mono at :data:`RATE` Hz by m0's ``ffmpeg`` source and heard in
frames of :data:`HOP` seconds (Hann-windowed power spectra). How far a stretch **stands** is
the level (mean power) of its loudest third of frames less the level of the :data:`AROUND`
seconds before and after it: a reaction's stretch is the one its truth gives; the stretches
without one are :data:`STRETCH` seconds long, every :data:`STEP` seconds, none within
:data:`CLEAR` seconds of a reaction. For each group of recordings (stream-like ones by the
bed's level: quiet, normal, loud, :data:`LEVELS`; noise beds apart) and for all, each way of
hearing says the reactions' median and 10th–90th percentile, the stretches' median and 90th
percentile, and the chance that a reaction stands further than a stretch without one (the area
under the ROC curve: 0.5 is none to tell them apart, 1.0 every reaction over every stretch).

``python -m m0core.dev.heldout stand FOLDER`` prints it for every recording in ``FOLDER``
that ``heldout make`` wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from m0core import plugins
from m0core.errors import InputError
from m0core.words import count

#: Samples a second the recordings are heard at.
RATE = 24000
#: A frame's length and step (seconds).
HOP = 0.1
#: The voice's band (Hz): a voice's first formants, over the music's bass, under the hiss.
VOICE_BAND = (500.0, 1600.0)
#: Seconds before and after a stretch whose level it stands over.
AROUND = 2.0
#: The length of a stretch without a reaction, the step between two, and how near a reaction
#: none comes (seconds).
STRETCH, STEP, CLEAR = 3.0, 2.0, 3.0
#: The groups of recordings by the bed's level (dBFS): a name and the lowest level in it.
LEVELS = (("quiet", -float("inf")), ("normal", -33.0), ("loud", -26.0))
#: The ways of hearing, in the order they are said.
WAYS = ("whole sound", "voice's band")
_FRAME = int(RATE * HOP)
_SECONDS_A_READ = 60.0  # a whole number of frames: only the last read leaves part of one
_WINDOW = np.hanning(_FRAME)
_HZ = np.fft.rfftfreq(_FRAME, 1.0 / RATE)
_BAND = (_HZ >= VOICE_BAND[0]) & (_HZ < VOICE_BAND[1])


def levels(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """The level in dB of each :data:`HOP`-second frame of the recording at ``path``, of the
    whole sound and of the voice's band, decoded by m0's ``ffmpeg`` source at :data:`RATE` Hz
    (the players' timeline, a minute at a time); its one-line
    :class:`~m0core.errors.InputError` where it cannot be read."""
    source = plugins.create("sources", "ffmpeg", sample_rate=RATE)
    heard = [_heard(chunk.samples)
             for chunk in source.chunks(os.fspath(path), chunk_seconds=_SECONDS_A_READ)]
    whole = np.concatenate([w for w, _ in heard] or [np.zeros(0)])
    if not len(whole):
        raise InputError(f"{path}: less than {HOP:g} s of audio in it")
    return whole, np.concatenate([v for _, v in heard])


def _heard(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The levels of the whole frames of ``samples``: the whole sound's and the voice's band's."""
    whole = len(samples) // _FRAME
    frames = samples[: whole * _FRAME].reshape(whole, _FRAME) * _WINDOW
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return _db(power.sum(axis=1)), _db(power[:, _BAND].sum(axis=1))


def _db(power: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(power, 1e-12))


def _mean_db(values: np.ndarray) -> float:
    """The level (mean power) of ``values`` in dB."""
    return float(_db(np.mean(10.0 ** (values / 10.0))))


def stands(values: np.ndarray, start: float, end: float) -> float | None:
    """How far the stretch from ``start`` to ``end`` seconds of ``values`` (a level a
    :data:`HOP`) stands: the level of its loudest third less that of the :data:`AROUND`
    seconds on either side (``None`` where it holds no whole frame or nothing is around)."""
    first, last = int(np.ceil(start / HOP)), min(len(values), int(end / HOP))
    around = round(AROUND / HOP)
    if last <= first:
        return None
    inside = np.sort(values[first:last])[::-1]
    others = np.concatenate([values[max(0, first - around):first], values[last:last + around]])
    if not len(others):
        return None
    return _mean_db(inside[: max(1, len(inside) // 3)]) - _mean_db(others)


def without(duration: float, reactions: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The stretches of :data:`STRETCH` seconds, every :data:`STEP`, that come no nearer than
    :data:`CLEAR` seconds to any of ``reactions`` (start, end) nor to either end."""
    out = []
    for start in np.arange(AROUND, duration - STRETCH - AROUND, STEP):
        end = start + STRETCH
        if all(end + CLEAR <= a or start - CLEAR >= b for a, b in reactions):
            out.append((float(start), float(end)))
    return out


def separation(reactions: list[float], others: list[float]) -> float:
    """The chance that a reaction stands further than a stretch without one (ties half)."""
    if not reactions or not others:
        return float("nan")
    ranks = rankdata(np.concatenate([reactions, others]))
    n, m = len(reactions), len(others)
    return float((ranks[:n].sum() - n * (n + 1) / 2) / (n * m))


@dataclass
class Group:
    """What the recordings of one group stand, each way of hearing."""

    name: str
    recordings: int = 0
    reactions: dict[str, list[float]] = field(default_factory=lambda: {w: [] for w in WAYS})
    others: dict[str, list[float]] = field(default_factory=lambda: {w: [] for w in WAYS})

    def lines(self) -> list[str]:
        """The group's lines: a heading, then one line for each way of hearing."""
        reactions = len(self.reactions[WAYS[0]])
        out = [f"{self.name}: {count(self.recordings, 'recording')}, "
               f"{count(reactions, 'reaction')}"]
        for way in WAYS:
            r, o = np.asarray(self.reactions[way]), np.asarray(self.others[way])
            if not len(r) or not len(o):
                out.append(f"  {way}: nothing to compare")
                continue
            out.append(f"  {way}: reactions {np.median(r):+.1f} dB "
                       f"({np.percentile(r, 10):+.1f} to {np.percentile(r, 90):+.1f}), "
                       f"stretches without one {np.median(o):+.1f} dB "
                       f"(90 %: {np.percentile(o, 90):+.1f}); a reaction stands further: "
                       f"{separation(list(r), list(o)):.2f}")
        return out


#: The group of a recording whose truth gives no bed level.
UNKNOWN = "bed level not given"


def group_of(bed_db: float) -> str:
    """The name of the group (:data:`LEVELS`) of a recording whose bed is at ``bed_db``
    (:data:`UNKNOWN` where that is no number)."""
    return next((name for name, low in reversed(LEVELS) if bed_db >= low), UNKNOWN)


def measure(recordings: list[tuple[Path, str, list[tuple[float, float]]]]) -> str:
    """How far the reactions of ``recordings`` (path, group, reactions' start and end) stand,
    by group (those of :data:`LEVELS` first, then others in the order they come) and in all,
    in words."""
    groups = {name: Group(name) for name, _ in LEVELS}
    total = Group("all")
    for path, name, reactions in recordings:
        heard = dict(zip(WAYS, levels(path), strict=True))
        stretches = without(len(heard[WAYS[0]]) * HOP, reactions)
        stood = {way: ([s for a, b in reactions if (s := stands(values, a, b)) is not None],
                       [s for a, b in stretches if (s := stands(values, a, b)) is not None])
                 for way, values in heard.items()}
        for group in (groups.setdefault(name, Group(name)), total):
            group.recordings += 1
            for way, (of_reactions, of_others) in stood.items():
                group.reactions[way] += of_reactions
                group.others[way] += of_others
    lines: list[str] = []
    for group in [*groups.values(), total]:
        if group.recordings:
            lines += group.lines()
    return "\n".join(lines)
