"""Synthetic VOD audio with ground truth, for tests, ``m0 demo`` and benchmarks.

A recording is a noise bed (pink-ish noise whose level wobbles by about ±1.5 dB over a few
seconds and drifts slowly by ``drift_db``) with events on top: ``cheer`` (a crowd-like noise
burst of 2–6 s), ``shout`` (a voice-like harmonic tone with vibrato, 0.6–1.5 s) and ``spike``
(a short impulsive burst, 0.15–0.4 s). Each event's level is ``gain_db`` above the *local* bed:
the RMS of the event over its core (where its envelope is at least half its maximum) against
the RMS of the bed at the event's centre.

Everything is built block by block, so an hour of audio needs the memory of one block, and
everything is deterministic from ``seed`` (the samples do not depend on ``block_seconds``).

Example::

    from m0core.dev import synth
    events = synth.write_audio("stream.flac", 900.0, seed=3, bed_db=-42.0)
    events = synth.write_vod("demo.mp4", 180.0)
    match = synth.match_events(events, highlights)   # recall, precision, misses
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m0core.checks import number
from m0core.errors import OptionError, OutputError
from m0core.media.ffmpeg import child, ffmpeg_exe, reason
from m0core.model import Highlight

#: Seconds kept free of events at the start and at the end of a recording.
EDGE = 5.0
#: ffmpeg's options for FFmpeg's fast AAC coder, for made media (:func:`write_vod`,
#: :func:`m0core.testing.run_ffmpeg`): as FFmpeg's own tests do, since sound made to be
#: analysed gains nothing from the default coder's search, which costs twice the CPU.
AAC_FAST = ("-aac_coder", "fast")


@dataclass(frozen=True)
class Event:
    """One synthetic event: onset ``time`` and ``duration`` in seconds, its ``kind`` and
    its level ``gain_db`` above the local bed."""

    time: float
    duration: float
    kind: str
    gain_db: float

    @property
    def end(self) -> float:
        """Time in seconds at which the event is over."""
        return self.time + self.duration


# -- events -------------------------------------------------------------------------------

def _envelope(n: int, sr: int, attack: float, release: float, curve: float = 1.0) -> np.ndarray:
    """A linear attack, a flat hold and a release of shape ``(1 - x) ** curve``."""
    env = np.ones(n, dtype=np.float64)
    a = min(n, max(1, int(attack * sr)))
    r = min(n - a, max(1, int(release * sr)))
    env[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    if r > 0:
        env[n - r:] = (1.0 - np.linspace(0.0, 1.0, r, endpoint=False)) ** curve
    return env


def _cheer(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Crowd-like noise: band-passed noise with a fast irregular flutter."""
    from scipy import signal  # imported on use, as below: it takes over a second to import

    sos = signal.butter(2, [250.0, min(3500.0, 0.45 * sr)], "bandpass", fs=sr, output="sos")
    noise = signal.sosfilt(sos, rng.standard_normal(n))
    t = np.arange(n) / sr
    flutter = 1.0 + 0.25 * np.sin(2 * np.pi * rng.uniform(3.0, 7.0) * t + rng.uniform(0, 6.3))
    return noise * flutter * _envelope(n, sr, rng.uniform(0.25, 0.6), rng.uniform(0.8, 1.5))


def _shout(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A voice-like tone: harmonics of a fundamental with vibrato and a slight pitch fall."""
    t = np.arange(n) / sr
    f0 = rng.uniform(140.0, 280.0) * (1.0 - 0.08 * t / max(t[-1], 1e-9))
    f0 = f0 * (1.0 + 0.03 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, 9) if k * f0.max() < 0.45 * sr)
    return tone * _envelope(n, sr, 0.06, 0.15)


def _spike(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """An impulsive burst: white noise with a sharp attack and a quick fall."""
    return rng.standard_normal(n) * _envelope(n, sr, 0.003, 0.6 * n / sr, curve=2.0)


_KINDS: dict[str, tuple[tuple[float, float], Callable[..., np.ndarray]]] = {
    "cheer": ((2.0, 6.0), _cheer),
    "shout": ((0.6, 1.5), _shout),
    "spike": ((0.15, 0.4), _spike),
}

#: The kinds of event :func:`plan_events` can place.
KINDS = tuple(_KINDS)


def plan_events(
    duration: float,
    *,
    seed: int = 0,
    min_spacing: float = 40.0,
    gain_db: tuple[float, float] = (8.0, 20.0),
    kinds: Iterable[str] = KINDS,
) -> list[Event]:
    """Place events over ``duration`` seconds, deterministically from ``seed``.

    Onsets are at least ``min_spacing`` seconds apart (and never overlap), none starts in the
    first or ends in the last :data:`EDGE` seconds; kinds are drawn uniformly from ``kinds``
    and gains uniformly from the ``gain_db`` range.
    """
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in _KINDS]
    if unknown or not kinds:
        raise OptionError(f"event kinds must be among {', '.join(KINDS)}, not {kinds}")
    _check_finite(duration=duration, min_spacing=min_spacing)
    low, high = (float(g) for g in gain_db)
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise OptionError(f"gain_db must be a (low, high) range of dB, not {gain_db}")
    if min_spacing <= 0:
        raise OptionError(f"min_spacing must be positive, not {min_spacing}")
    rng = np.random.default_rng([int(seed), 1])
    events: list[Event] = []
    t = EDGE + rng.uniform(0.0, min_spacing / 2)
    while True:
        kind = kinds[int(rng.integers(len(kinds)))]
        (dmin, dmax), _ = _KINDS[kind]
        length = float(rng.uniform(dmin, dmax))
        gain = float(rng.uniform(low, high))
        if t + length > duration - EDGE:
            return events
        events.append(Event(round(t, 3), round(length, 3), kind, round(gain, 2)))
        t += max(min_spacing, length + 1.0) + rng.uniform(0.0, min_spacing / 2)


# -- scoring highlights against the truth ------------------------------------------------

@dataclass(frozen=True)
class Match:
    """How highlights compare with the planted events (see :func:`match_events`)."""

    events: int
    highlights: int
    found: int
    false: int
    missed: tuple[Event, ...]
    event_of: dict[int, Event]

    @property
    def recall(self) -> float:
        """Share of the events found (1.0 when there are none)."""
        return self.found / self.events if self.events else 1.0

    @property
    def precision(self) -> float:
        """Share of the highlights that are real events (1.0 when there are none)."""
        return (self.highlights - self.false) / self.highlights if self.highlights else 1.0

    @property
    def f1(self) -> float:
        """The harmonic mean of :attr:`precision` and :attr:`recall` (0.0 when both are 0)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def top_precision(events: list[Event], highlights: Iterable[Highlight]) -> float:
    """Precision of the N highest-scoring ``highlights``, N the number of ``events`` (at least
    1): what ``--max-clips N`` keeps (0.0 when there are no highlights)."""
    best = sorted(highlights, key=lambda h: h.score, reverse=True)[:max(1, len(events))]
    return match_events(events, best).precision if best else 0.0


def match_events(events: Iterable[Event], highlights: Iterable[Highlight], *,
                 slack: float = 2.0) -> Match:
    """Compare ``highlights`` with the ground truth ``events``.

    A highlight is *real* when its peak lies within ``[onset - slack, end + slack]`` of an
    event. An event is *found* when a real highlight of it also has the onset inside its clip
    window ``[start, end]``. ``event_of`` maps each real highlight's ``index`` (its 1-based
    position in ``highlights`` when the index is unset) to the nearest such event.
    """
    events, highlights = list(events), list(highlights)
    found: set[int] = set()
    event_of: dict[int, Event] = {}
    false = 0
    for position, h in enumerate(highlights, start=1):
        near = [j for j, e in enumerate(events)
                if e.time - slack <= h.peak_time <= e.end + slack]
        if not near:
            false += 1
            continue
        event_of[h.index or position] = events[min(near, key=lambda j: abs(
            events[j].time - h.peak_time))]
        found.update(j for j in near if h.start <= events[j].time <= h.end)
    return Match(
        events=len(events), highlights=len(highlights), found=len(found),
        false=false,
        missed=tuple(e for j, e in enumerate(events) if j not in found), event_of=event_of,
    )


# -- the bed ------------------------------------------------------------------------------

# Paul Kellet's "economy" pink-noise filter (-3 dB/octave above ~10 Hz at 44.1-48 kHz).
_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])
_PINK_SHARE = 0.8  # of the bed's power; the rest is white noise


def _pink_gain() -> float:
    """RMS of the pink filter's output for unit white noise (its impulse response energy)."""
    from scipy import signal

    impulse = np.zeros(1 << 16)
    impulse[0] = 1.0
    return float(np.sqrt(np.sum(signal.lfilter(_PINK_B, _PINK_A, impulse) ** 2)))


class _Bed:
    """The level curve of the bed in dBFS and its noise, generated sample by sample in order."""

    # (amplitude dB, period s) of the few-second wobble; phases come from the seed.
    _WOBBLE = ((0.9, 3.7), (0.6, 7.9), (0.4, 2.3))

    def __init__(self, sr: int, bed_db: float, drift_db: float, drift_period: float,
                 seed: int) -> None:
        self.sr, self.bed_db, self.drift_db, self.drift_period = sr, bed_db, drift_db, drift_period
        self._pink_rng = np.random.default_rng([int(seed), 0])
        self._white_rng = np.random.default_rng([int(seed), 5])
        self._phases = np.random.default_rng([int(seed), 2]).uniform(0, 2 * np.pi, 3)
        self._pink_scale = math.sqrt(_PINK_SHARE) / _pink_gain()
        self._white_scale = math.sqrt(1.0 - _PINK_SHARE)
        from scipy import signal

        # Warm the filter up so the first second is already pink.
        warm = np.random.default_rng([int(seed), 3]).standard_normal(sr)
        self._zi = signal.lfilter(_PINK_B, _PINK_A, warm, zi=np.zeros(len(_PINK_A) - 1))[1]

    def level_db(self, t: np.ndarray | float) -> np.ndarray:
        """The bed's RMS level in dBFS at time(s) ``t``."""
        t = np.asarray(t, dtype=np.float64)
        level = self.bed_db + self.drift_db * np.sin(2 * np.pi * t / self.drift_period)
        for (amp, period), phase in zip(self._WOBBLE, self._phases, strict=True):
            level = level + amp * np.sin(2 * np.pi * t / period + phase)
        return level

    def samples(self, start: int, n: int) -> np.ndarray:
        """The next ``n`` samples (``start`` is the index of the first, for the level)."""
        from scipy import signal

        pink, self._zi = signal.lfilter(_PINK_B, _PINK_A, self._pink_rng.standard_normal(n),
                                        zi=self._zi)
        white = self._white_rng.standard_normal(n, dtype=np.float32)
        # The level changes slowly: compute it every 10 ms and hold it in between.
        step = max(1, self.sr // 100)
        first, last = start // step, (start + n - 1) // step
        gain = 10.0 ** (self.level_db((np.arange(first, last + 1) + 0.5) * step / self.sr) / 20)
        gain = np.repeat(gain, step)[start - first * step:start - first * step + n]
        return (pink * self._pink_scale + white * self._white_scale) * gain


# -- audio --------------------------------------------------------------------------------

def audio_blocks(
    duration: float,
    events: Iterable[Event] = (),
    *,
    sample_rate: int = 48000,
    bed_db: float = -32.0,
    drift_db: float = 6.0,
    drift_period: float = 900.0,
    seed: int = 0,
    block_seconds: float = 10.0,
) -> Iterator[np.ndarray]:
    """Yield the recording as consecutive mono float32 blocks in -1..1.

    Only one block and the events overlapping it are held at a time. ``bed_db`` is the bed's
    mean RMS level in dBFS; it drifts by ``±drift_db`` over ``drift_period`` seconds.
    """
    _check_finite(duration=duration, bed_db=bed_db, drift_db=drift_db,
                  drift_period=drift_period, block_seconds=block_seconds)
    if duration < 0 or drift_period <= 0 or block_seconds <= 0 or int(sample_rate) < 8000:
        raise OptionError("duration must be >= 0, drift_period and block_seconds > 0, "
                          "sample_rate >= 8000")
    sr = int(sample_rate)
    bed = _Bed(sr, bed_db, drift_db, drift_period, seed)
    pending = sorted(enumerate(events), key=lambda pair: pair[1].time)
    active: list[tuple[int, np.ndarray]] = []  # (first sample, samples) of events under way
    total = int(round(duration * sr))
    block = max(1, int(round(block_seconds * sr)))
    for start in range(0, total, block):
        n = min(block, total - start)
        out = bed.samples(start, n)
        while pending and int(round(pending[0][1].time * sr)) < start + n:
            index, event = pending.pop(0)
            active.append(_render(event, index, bed, seed))
        for first, samples in active:
            lo, hi = max(first, start), min(first + len(samples), start + n)
            if lo < hi:
                out[lo - start:hi - start] += samples[lo - first:hi - first]
        active = [(f, s) for f, s in active if f + len(s) > start + n]
        yield np.clip(out, -1.0, 1.0).astype(np.float32)


def _render(event: Event, index: int, bed: _Bed, seed: int) -> tuple[int, np.ndarray]:
    """The samples of ``event`` at the right level, with the index of its first sample."""
    if event.kind not in _KINDS:
        raise OptionError(f"unknown event kind {event.kind!r} (known: {', '.join(KINDS)})")
    sr = bed.sr
    n = max(1, int(round(event.duration * sr)))
    rng = np.random.default_rng([int(seed), 4, index])
    raw = _KINDS[event.kind][1](n, sr, rng)
    core = raw[core_mask(raw, sr)]
    rms = math.sqrt(float(np.mean(core**2))) or 1.0
    local = float(bed.level_db(event.time + event.duration / 2))
    return int(round(event.time * sr)), raw * (10.0 ** ((local + event.gain_db) / 20.0) / rms)


def core_mask(raw: np.ndarray, sr: int) -> np.ndarray:
    """Where the event's 10 ms envelope is at least half (-6 dB of) its maximum."""
    step = max(1, sr // 100)
    frames = np.sqrt(np.convolve(raw**2, np.ones(step) / step, mode="same"))
    return frames >= 0.5 * frames.max()


def write_audio(
    path: str | os.PathLike,
    duration: float,
    *,
    events: list[Event] | None = None,
    subtype: str | None = None,
    **kw,
) -> list[Event]:
    """Write a synthetic recording to a wav/flac/ogg file (by extension) and return its events.

    ``events`` defaults to :func:`plan_events` ``(duration, seed=kw["seed"])``; ``kw`` goes to
    :func:`audio_blocks`. The file appears complete or not at all.
    """
    import soundfile

    events = plan_events(duration, seed=kw.get("seed", 0)) if events is None else events
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        with soundfile.SoundFile(tmp, "w", samplerate=kw.get("sample_rate", 48000), channels=1,
                                 subtype=subtype, format=path.suffix.lstrip(".").upper()) as f:
            for block in audio_blocks(duration, events, **kw):
                f.write(block)
        os.replace(tmp, path)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise OutputError(f"{path}: cannot write audio: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return events


def write_vod(
    path: str | os.PathLike,
    duration: float,
    *,
    events: list[Event] | None = None,
    size: str = "640x360",
    fps: int = 15,
    video_bitrate: str | None = None,
    progress: Callable[[float], None] | None = None,
    comment: str | None = None,
    **kw,
) -> list[Event]:
    """Write a synthetic VOD (h264 ``testsrc2`` video + stereo AAC 48 kHz audio) and return
    its events.

    The audio is generated block by block and piped to ffmpeg as raw f32le, so memory stays
    constant. ``video_bitrate`` (e.g. ``"3M"``) sets the video's rate instead of CRF 30.
    ``progress`` is told the seconds ffmpeg has taken so far, after each block. ``comment``:
    the file's comment tag. ``kw`` goes to :func:`audio_blocks`. The file appears complete or
    not at all.
    """
    events = plan_events(duration, seed=kw.get("seed", 0)) if events is None else events
    rate = int(kw.get("sample_rate", 48000))
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={int(fps)}:duration={duration:.3f}",
        "-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0",
        "-map", "0:v:0", "-map", "1:a:0",
        "-c:v", "libx264", "-preset", "ultrafast",
        *(["-b:v", video_bitrate] if video_bitrate else ["-crf", "30"]), "-pix_fmt", "yuv420p",
        "-g", str(2 * int(fps)),
        "-c:a", "aac", *AAC_FAST, "-ac", "2", "-ar", "48000", "-b:a", "128k",
        *(["-metadata", f"comment={comment}"] if comment else []), "-shortest", str(tmp),
    ]
    blocks = audio_blocks(duration, events, **kw)
    encode(cmd, blocks if progress is None else _told(blocks, rate, progress), tmp, path, "VOD")
    return events


def _told(blocks: Iterator[np.ndarray], rate: int,
          progress: Callable[[float], None]) -> Iterator[np.ndarray]:
    """``blocks``, ``progress`` told the seconds they hold so far once each is taken."""
    taken = 0
    for block in blocks:
        yield block
        taken += len(block)
        progress(taken / rate)


def encode(cmd: list[str], blocks: Iterator[np.ndarray], tmp: Path, path: Path,
           what: str) -> None:
    """Pipe mono float32 ``blocks`` into the ffmpeg ``cmd`` that writes ``tmp``, then rename
    ``tmp`` to ``path``; an ffmpeg failure is one :class:`OutputError` line naming ``what``,
    and ``tmp`` never outlives the call."""
    try:
        with child(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL) as (proc, stderr):
            pipe_audio(proc, blocks)
            code = proc.wait()
            errors = stderr()
        if code != 0:
            raise OutputError(f"{path}: ffmpeg could not write the {what} ({reason(errors)})")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def pipe_audio(proc: subprocess.Popen, blocks: Iterator[np.ndarray]) -> None:
    """Write ``blocks`` to ffmpeg's stdin as f32le and close it."""
    try:
        for block in blocks:
            proc.stdin.write(block.astype("<f4").tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass  # ffmpeg stopped early; its exit code and stderr say why


def _check_finite(**values: float) -> None:
    for name, value in values.items():
        number(name, value)
