"""How far a recording's reactions stand out of the sound around them, heard two ways: the
whole sound, and the voice's band alone (:data:`VOICE_BAND`).

A detector that reads loudness finds what stands out; this measures what there is to find.
A reaction through a compressor on the mic (``heldout make … --mic obs``) stands a few dB
over the talk around it, where the same reaction as made stands 14 or more: a sign that
loudness alone will not find it, before any run. The voice's band leaves out the music's
bass and the hiss over it, where a voice is weak, so a voice that is squeezed still stands
further there.

Each recording is decoded to mono at :data:`RATE` Hz and heard in frames of :data:`HOP`
seconds (Hann-windowed power spectra). How far a stretch **stands** is the level (mean
power) of its loudest third of frames less the level of the :data:`AROUND` seconds before
and after it: a reaction's stretch is the one its truth gives; the stretches without one are
:data:`STRETCH` seconds long, every :data:`STEP` seconds, none within :data:`CLEAR` seconds
of a reaction. For each group of recordings (stream-like ones by the bed's level: quiet,
normal, loud, :data:`LEVELS`; noise beds apart) and for all, each way of hearing says the
reactions' median and 10th–90th percentile, the stretches' median and 90th percentile, and
the chance that a reaction stands further than a stretch without one (the area under the ROC
curve: 0.5 is none to tell them apart, 1.0 every reaction over every stretch).

``python -m m0core.dev.heldout stand FOLDER`` prints it for every recording in ``FOLDER``
that ``heldout make`` wrote.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from m0core.errors import InputError
from m0core.media.ffmpeg import PLAYERS_TIMELINE, base_command, child, input_arg, reason
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
_FRAMES_A_READ = 600  # a minute


def levels(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """The level in dB of each :data:`HOP`-second frame of the recording at ``path``, of the
    whole sound and of the voice's band; an :class:`~m0core.errors.InputError` of one line
    where ffmpeg cannot decode it. A minute is decoded at a time."""
    cmd = [*base_command(), "-i", input_arg(path), "-map", "0:a:0", "-af", PLAYERS_TIMELINE,
           "-ac", "1", "-ar", str(RATE), "-f", "f32le", "pipe:1"]
    parts = list(_frames(cmd, path))
    if not parts:
        raise InputError(f"{path}: less than {HOP:g} s of audio in it")
    whole, voice = (np.concatenate(p) for p in zip(*parts, strict=True))
    return whole, voice


def _frames(cmd: list[str], path: str | os.PathLike) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    window = np.hanning(_FRAME)
    hz = np.fft.rfftfreq(_FRAME, 1.0 / RATE)
    band = (hz >= VOICE_BAND[0]) & (hz < VOICE_BAND[1])
    with child(cmd, stdout=subprocess.PIPE) as (proc, stderr):
        assert proc.stdout is not None
        while data := proc.stdout.read(_FRAME * _FRAMES_A_READ * 4):
            samples = np.frombuffer(data, dtype="<f4")
            whole = len(samples) // _FRAME
            if not whole:
                break
            frames = samples[: whole * _FRAME].reshape(whole, _FRAME) * window
            power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
            yield _db(power.sum(axis=1)), _db(power[:, band].sum(axis=1))
        if proc.wait() != 0:
            raise InputError(f"{path}: cannot decode it ({reason(stderr())})")


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
        duration = len(heard[WAYS[0]]) * HOP
        for group in (groups.setdefault(name, Group(name)), total):
            group.recordings += 1
            for way, values in heard.items():
                group.reactions[way] += [s for a, b in reactions
                                         if (s := stands(values, a, b)) is not None]
                group.others[way] += [s for a, b in without(duration, reactions)
                                      if (s := stands(values, a, b)) is not None]
    lines: list[str] = []
    for group in [*groups.values(), total]:
        if group.recordings:
            lines += group.lines()
    return "\n".join(lines)
