"""Stream-like recordings made of real recorded sound, with ground truth, for detection work.

A recording imitates a game stream: a bed of game music (with its own quiet passages and
swells), a person talking most of the time a few dB above it (recorded speech lines with
natural pauses), game sound effects every ~15 s at 3–8 dB over the bed, and **reactions** —
2–4 shouted voice lines, exclamations or laughs in a row, 2–5 s long, 10–16 dB over the local
bed — which are the moments to find. Distractors that are *not* moments are mixed in too: a
door slam (a short loud impact), a cough, a notification sound and music swells. The bed
changes every minute or two between music, talk, both, a noise bed and near-silence (between
games), and its level drifts slowly around ``bed_db``.

The sounds are real recordings shipped by Debian packages (:data:`PACKAGES`, listed in
``corpus-packages.txt``; ``.ci/run`` installs them). Each pool of sounds is split in two by a
stable hash of the file's name (and
for voices, of the speaker): ``split="dev"`` recordings use one part, ``split="validation"``
recordings the other, so a detector tuned on the first is checked on voices, music and speech
it never saw. ``split="outside"`` recordings are composed by the same rules from the recordings
of other packages (:data:`OUTSIDE_PACKAGES`, listed in ``corpus-packages-outside.txt``; not
installed by ``.ci/run``): other games' music, voices and effects, other speech and
notification sounds — a check on sounds of another origin than both pools. Nothing is fetched
at run time and no recording is copied into the repository.

Levels: "gain over the local bed" is the RMS of the sound where its 10 ms envelope is within
20 dB of its maximum (the sound as heard, without its pauses and tails), against the RMS of
the bed mix (music, talk, noise) from 4 s before to 4 s after the sound.

Example::

    from m0core.dev import corpus
    truth = corpus.write("stream.m4a", 600.0, seed=3, bed_db=-30.0, split="dev")
    match = synth.match_events(truth.reactions, highlights)
"""

from __future__ import annotations

import math
import os
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from m0core.checks import number, whole
from m0core.dev import synth
from m0core.errors import OptionError
from m0core.media.ffmpeg import ffmpeg_exe, reason


def _packages(listing: str) -> tuple[str, ...]:
    """The package names of ``listing``, a file beside this module (one a line, ``#``
    comments)."""
    return tuple(line.strip() for line in Path(__file__).with_name(listing).read_text()
                 .splitlines() if line.strip() and not line.startswith("#"))


#: The Debian packages whose recordings the corpus uses, listed in one place:
#: corpus-packages.txt beside this module (``.ci/run`` installs them when it runs as root).
PACKAGES = _packages("corpus-packages.txt")
#: The Debian packages of ``split="outside"`` (corpus-packages-outside.txt), none of which
#: the other splits use.
OUTSIDE_PACKAGES = _packages("corpus-packages-outside.txt")
#: The Debian packages whose voices only the check's training hears
#: (corpus-packages-training.txt, :func:`training_voices`): no split's recording holds them.
TRAINING_PACKAGES = _packages("corpus-packages-training.txt")

#: Where Debian installs the packages' data.
SHARE = Path(os.environ.get("M0_CORPUS_SHARE", "/usr/share"))

#: Samples per second of the composed audio (the file is written at this rate).
SAMPLE_RATE = 24000
SPLITS = ("dev", "validation", "outside")
#: Changes whenever the same arguments would compose a different recording.
VERSION = 1
BEDS = ("music", "talk", "both", "noise", "silence")
#: OBS's Compressor filter at its defaults (ratio 10:1, threshold −18 dB, attack 6 ms, release
#: 60 ms, no output gain) as an ffmpeg audio filter: a ``mic`` for :func:`compose`.
OBS_COMPRESSOR = "acompressor=threshold=0.125:ratio=10:attack=6:release=60"

_HW = "games/hedgewars/Data"
#: Voice lines that are not reactions (coughs and moans are distractors).
_NOT_REACTIONS = ("PoisonCough", "PoisonMoan", "Hmm", "Byebye", "Hello", "Yessir")
_IMPACTS = ("bump", "graveimpact", "hammer", "grenadeimpact", "mineimpact", "melonimpact",
            "baseballbat", "knife_impact", "airmine_impact")


@dataclass(frozen=True)
class Recording:
    """The ground truth of a composed recording.

    ``reactions`` are the moments to find (as :class:`m0core.dev.synth.Event`, kind
    ``"reaction"``); ``distractors`` are loud things that are not moments (kinds ``slam``,
    ``cough``, ``notification``, ``swell``); ``effects`` the game sounds; ``beds`` the bed
    segments as ``(start, end, kind)``.
    """

    duration: float
    bed_db: float
    split: str
    seed: int
    reactions: list[synth.Event]
    distractors: list[synth.Event] = field(default_factory=list)
    effects: list[synth.Event] = field(default_factory=list)
    beds: list[tuple[float, float, str]] = field(default_factory=list)
    mic: str | None = None  # the ffmpeg filter the voice went through (compose's ``mic``)


_WX = "games/warmux"
#: Where each package of a split puts its sounds (under :data:`SHARE`).
_FOLDERS = {
    "hedgewars-data": _HW + "/Sounds/voices", "fillets-ng-data": "games/fillets-ng/sound",
    "ktuberling-data": "ktuberling/sounds", "pushover-data": "pushover/themes",
    "sound-theme-freedesktop": "sounds/freedesktop/stereo", "oxygen-sounds": "sounds",
    "warmux-data": _WX + "/sound/default/voices", "pingus-data": "games/pingus/data/sounds",
    "frozen-bubble-data": "games/frozen-bubble/snd",
    "alienblaster-data": "games/alienblaster/sound", "tuxtype-data": "tuxtype/sounds",
    "alsa-utils": "sounds/alsa", "deepin-sound-theme": "sounds/deepin/stereo",
    "yaru-theme-sound": "sounds/Yaru/stereo",
    "megaglest-data": "games/megaglest/techs/megapack/factions"}


def missing(split: str = "dev") -> str | None:
    """Why recordings of ``split`` cannot be built here (packages not installed), or
    ``None``."""
    _check_split(split)
    if split == "outside":
        return _absent("split='outside'", OUTSIDE_PACKAGES)
    return _absent("the realistic corpus", PACKAGES)


def _absent(what: str, packages: tuple[str, ...]) -> str | None:
    """That ``what`` needs those of ``packages`` not installed here (and the command that
    installs them all), or ``None`` when all are."""
    absent = [name for name in packages if not (SHARE / _FOLDERS[name]).is_dir()]
    if absent:
        return (f"{what} needs the Debian packages " + " ".join(absent)
                + " (apt-get install " + " ".join(packages) + ")")
    return None


# -- the pools of sounds ------------------------------------------------------------------

def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise OptionError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")


def _part(key: str, split: str) -> bool:
    """Whether ``key`` belongs to ``split``: a stable hash puts about a third in validation."""
    _check_split(split)
    return (zlib.crc32(key.encode()) % 3 == 0) == (split == "validation")


def _glob(pattern: str) -> list[Path]:
    return sorted(SHARE.glob(pattern))


@cache
def pools(split: str) -> dict[str, list]:
    """The sounds of ``split``: ``music`` and ``talk`` (lists of paths), ``voices`` (lists of
    reaction lines, one list per speaker), ``effects``, ``impacts``, ``coughs``,
    ``notifications`` (lists of paths)."""
    if split == "outside":
        return _outside_pools()
    music = [p for p in _glob(f"{_HW}/Music/*.ogg") + _glob("pushover/themes/*.ogg")
             if _part(p.name, split)]
    talk = [p for p in _glob("games/fillets-ng/sound/*/en/*.ogg")
            if _part(p.parent.parent.name, split)]
    talk += [p for p in _glob("ktuberling/sounds/*/*.ogg") if _part(p.parent.name, split)]
    voices = []
    coughs = []
    for speaker in sorted(p for p in (SHARE / _HW / "Sounds/voices").glob("*") if p.is_dir()):
        lines = sorted(speaker.glob("*.ogg"))
        coughs += [p for p in lines if p.stem in ("PoisonCough",)]
        if _part(speaker.name, split):
            voices.append([p for p in lines if not p.stem.startswith(_NOT_REACTIONS)])
    effects = [p for p in _glob(f"{_HW}/Sounds/*.ogg") if p.stem not in _IMPACTS
               and not p.stem[:1].isdigit() and _part(p.name, split)]
    impacts = [p for p in _glob(f"{_HW}/Sounds/*.ogg") if p.stem in _IMPACTS]
    notes = _glob("sounds/freedesktop/stereo/*.oga") + _glob("sounds/Oxygen-*.ogg")
    return {"music": music, "talk": talk, "voices": voices, "effects": effects,
            "impacts": impacts, "coughs": [p for p in coughs if _part(p.parent.name, split)]
            or coughs, "notifications": [p for p in notes if _part(p.name, split)]}


#: Warmux voice lines that are not reactions: grunts (the "cough" distractors here) and the
#: team theme lines (2–5 s).
_WX_NOT_REACTIONS = ("injured_light", "theme")
#: Warmux sounds that are short loud impacts (the "slam" distractors here; all under 0.2 s
#: within 20 dB of their peak, as Hedgewars' are: not "homerun", 1.7 s).
_WX_IMPACTS = ("anvil_collision", "box_hitting_ground", "baseball", "slap")


def _outside_pools() -> dict[str, list]:
    """The sounds of ``split="outside"`` (as :func:`pools`), all from
    :data:`OUTSIDE_PACKAGES`: music is Warmux's, Frozen Bubble's, Alien Blaster's and Tux
    Typing's tracks of 30 s or more; reactions are Warmux's and Pingus' voice lines of
    0.3–3 s (one speaker each); talk is ALSA's recorded speaker-test lines and Tux Typing's
    "excuse me"s; effects the games' other sounds of 3 s or less."""
    def sounds(*patterns: str, low: float = 0.0, high: float = math.inf) -> list[Path]:
        found = sorted({p for pattern in patterns for p in _glob(pattern)})
        return [p for p in found if low <= _duration(p) <= high]

    voice = _WX + "/sound/default/voices/"
    warmux = [p for p in sounds(voice + "*.ogg", low=0.3, high=3.0)
              if not p.stem.startswith(_WX_NOT_REACTIONS)]
    pingus_voice = {f"games/pingus/data/sounds/{name}.wav"
                    for name in ("goodidea", "letsgo", "ohno", "yipee")}
    pingus = sounds(*pingus_voice, low=0.3, high=3.0)
    music = sounds(_WX + "/music/*/*.ogg", "games/frozen-bubble/snd/*.ogg",
                   "games/alienblaster/sound/*.wav", "tuxtype/sounds/*.ogg", low=30.0)
    talk = [p for p in sounds("sounds/alsa/*.wav") if p.stem != "Noise"]
    talk += sounds("tuxtype/sounds/excuseme.wav", "tuxtype/themes/dansk/sounds/excuseme.wav")
    coughs = sounds(voice + "injured_light*.ogg", "games/frozen-bubble/snd/snore.ogg")
    short = sounds(_WX + "/sound/default/weapons/*.ogg", _WX + "/sound/default/misc/*.ogg",
                   "games/frozen-bubble/snd/*.ogg", "games/alienblaster/sound/*.wav",
                   "tuxtype/sounds/*.wav", "games/pingus/data/sounds/*.wav", high=3.0)
    impacts = [p for p in short if p.stem in _WX_IMPACTS]
    voiced = set(talk + coughs + impacts + [SHARE / name for name in pingus_voice])
    return {"music": music, "talk": talk, "voices": [warmux, pingus],
            "effects": [p for p in short if p not in voiced], "impacts": impacts,
            "coughs": coughs,
            "notifications": sounds("sounds/deepin/stereo/*.wav", "sounds/Yaru/stereo/*.oga")}


#: MegaGlest's units that are not people (animals, monsters), and the kinds of line of a
#: person that are spoken words: acknowledging an order, answering a selection.
_MG_NOT_PEOPLE = ("chicken", "bull", "thunderbird", "behemoth", "dragon", "evil_dragon",
                  "wild_sow", "daemon", "sheep", "elephant")
_MG_SPOKEN = ("ack", "select", "sel")


def training_voices() -> list[list[Path]]:
    """Voices of another game, for the check's training only
    (:mod:`m0core.dev.judge_training`): MegaGlest's people (:data:`TRAINING_PACKAGES`), one
    speaker a unit, their spoken lines of 0.3–3 s (a berserk unit speaks as its plain one and
    is left out); an :class:`~m0core.errors.OptionError` saying what to install when the
    package is not there."""
    absent = _absent("the check's training", TRAINING_PACKAGES)
    if absent:
        raise OptionError(absent)
    folder = SHARE / _FOLDERS["megaglest-data"]
    speakers = []
    for unit in sorted(folder.glob("*/units/*")):
        if unit.name in _MG_NOT_PEOPLE or unit.name.endswith("_berserk"):
            continue
        lines = [p for p in sorted((unit / "sounds").glob("*"))
                 if p.stem.rstrip("0123456789").split("_")[-1] in _MG_SPOKEN
                 and 0.3 <= _duration(p) <= 3.0]
        if len(lines) >= 4:
            speakers.append(lines)
    return speakers


@lru_cache(maxsize=512)
def _load(path: Path, offset: float = 0.0, seconds: float | None = None,
          rate: int = SAMPLE_RATE) -> np.ndarray:
    """``seconds`` (all when ``None``) of a sound file from ``offset`` seconds, as mono float64
    at ``rate`` Hz, trimmed of leading/trailing digital silence."""
    import soundfile
    from scipy import signal  # imported on use: it takes over a second to import

    with soundfile.SoundFile(str(path)) as f:
        own = f.samplerate
        f.seek(min(f.frames, int(offset * own)))
        data = f.read(-1 if seconds is None else int(seconds * own), dtype="float64",
                      always_2d=True)
    x = data.mean(axis=1)
    if own != rate:
        g = math.gcd(int(own), rate)
        x = signal.resample_poly(x, rate // g, int(own) // g)
    loud = np.flatnonzero(np.abs(x) > 1e-4)
    x = x[loud[0]:loud[-1] + 1] if len(loud) else x
    return x if len(x) >= rate // 20 else np.concatenate([x, np.zeros(rate // 20)])


def _duration(path: Path) -> float:
    import soundfile

    return float(soundfile.info(str(path)).duration)


def _rms(x: np.ndarray) -> float:
    return math.sqrt(float(np.mean(np.square(x)))) if len(x) else 0.0


def _active_rms(x: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """RMS of ``x`` where its 10 ms envelope is within 20 dB of its maximum (the sound as
    heard, without its pauses and tails)."""
    step = rate // 100
    if len(x) < 2 * step:
        return _rms(x) or 1e-12
    frames = np.sqrt(np.convolve(x**2, np.ones(step) / step, mode="same"))
    return _rms(x[frames >= 0.1 * frames.max()]) or 1e-12


def _db(x: float) -> float:
    return 20.0 * math.log10(max(x, 1e-12))


# -- composing ----------------------------------------------------------------------------

def check_rate(rate: int) -> int:
    """``rate`` as a recording's sample rate: a whole number of Hz, 8 to 192 kHz (else an
    :class:`~m0core.errors.OptionError`)."""
    return whole("rate", rate, low=8000, high=192000)


def check_levels(duration: float, bed_db: float) -> None:
    """An :class:`~m0core.errors.OptionError` unless ``duration`` is 30 s to 4 h and
    ``bed_db`` −60 to −6 dBFS (what a composed recording can be)."""
    number("duration", duration, low=30.0, high=4 * 3600.0)
    number("bed_db", bed_db, low=-60.0, high=-6.0)


def compose(duration: float, *, seed: int = 0, bed_db: float = -30.0, split: str = "dev",
            drift_db: float = 3.0, beds: tuple[str, ...] = BEDS, sounds: dict | None = None,
            rate: int = SAMPLE_RATE, mic: str | None = None) -> tuple[np.ndarray, Recording]:
    """The samples (mono float32 at ``rate`` Hz) and ground truth of one recording.

    ``bed_db`` is the bed's nominal RMS level in dBFS (−40 quiet … −18 loud); it drifts by
    ``±drift_db`` over the recording. ``beds`` are the bed kinds the segments are drawn from.
    ``sounds`` are the sounds drawn from, as :func:`pools` gives them (default: ``split``'s;
    the check's training draws from part of them). ``rate`` (8–192 kHz) is the rate the
    sounds are brought to and mixed at: at 44.1 or 48 kHz, as a stream's own, a sound keeps
    what it holds over 12 kHz. Deterministic from ``seed``, ``split``, ``sounds`` and ``rate``
    (another rate moves the draws a little: the same seed composes another recording).
    ``mic`` is an ffmpeg audio filter the streamer's voice (the talk and the reactions) goes
    through before it is mixed, as a mic's filters in OBS do (:data:`OBS_COMPRESSOR`); the
    reactions' levels over their bed are as placed before it. Else an
    :class:`~m0core.errors.OptionError` says ffmpeg refused it.
    """
    check_levels(duration, bed_db)
    rate = check_rate(rate)
    number("drift_db", drift_db, low=0.0, high=12.0)
    unknown = [b for b in beds if b not in BEDS]
    if unknown or not beds:
        raise OptionError(f"beds must be among {', '.join(BEDS)}, not {beds}")
    missing_reason = missing(split)
    if missing_reason:
        raise OptionError(missing_reason)
    if mic is not None:  # a filter ffmpeg refuses is said now, not after the composing
        _through(np.zeros(rate // 10), mic, rate)
    pool = pools(split) if sounds is None else sounds
    rng = np.random.default_rng([int(seed), SPLITS.index(split), 12])
    n = int(round(duration * rate))
    t = np.arange(0, n, rate // 100) / rate  # the level curves are made every 10 ms
    drift = drift_db * np.sin(2 * np.pi * (t / duration + rng.uniform(0, 1)))

    segments = _segments(duration, beds, rng)
    music_gain = np.full(len(t), -200.0)
    talk_gain = np.full(len(t), -200.0)
    noise_gain = np.full(len(t), -200.0)
    for start, end, kind in segments:
        sel = (t >= start) & (t < end)
        talk_over = rng.uniform(2.0, 5.0)
        if kind in ("music", "both"):
            music_gain[sel] = bed_db - (talk_over if kind == "both" else 0.0)
        if kind in ("talk", "both", "silence"):
            talk_gain[sel] = bed_db + (1.0 if kind == "both" else 0.0)
        if kind == "noise":
            noise_gain[sel] = bed_db
    smooth = np.ones(50) / 50  # 0.5 s fades between segments
    music_gain, talk_gain, noise_gain = (
        np.convolve(np.pad(g, 25, mode="edge"), smooth, mode="same")[25:-25]
        for g in (music_gain, talk_gain, noise_gain))
    distractors: list[synth.Event] = []
    music_gain = _music_shape(music_gain, t, rng, distractors)

    def curve(gain_db: np.ndarray) -> np.ndarray:
        return np.repeat(10.0 ** ((gain_db + drift) / 20.0), rate // 100)[:n]

    music = _music(n, pool["music"], rng, rate) * curve(music_gain)
    sparse = np.zeros(len(t), dtype=bool)
    for start, end, kind in segments:
        sparse[(t >= start) & (t < end)] = kind == "silence"
    talk = _talk(n, pool["talk"], rng, talk_gain, sparse, rate) * curve(talk_gain)
    noise = np.concatenate(list(synth.audio_blocks(n / rate, [], sample_rate=rate, bed_db=0.0,
                                                   drift_db=0.0, seed=int(seed))))[:n]
    room = noise * (curve(noise_gain) + 10.0 ** ((bed_db - 45.0) / 20.0))  # + room tone
    bed = music + talk + room

    shouts = np.zeros(n)
    reactions = _place_reactions(shouts, bed, duration, pool, rng, rate)
    mix = bed + shouts if mic is None else music + room + _through(talk + shouts, mic, rate)
    taken = [(e.time - 1.0, e.end + 1.0) for e in reactions]
    effects = _place_others(mix, bed, duration, rng, taken, every=(8.0, 22.0), kinds={
        "effect": (pool["effects"], (3.0, 8.0), 1)}, rate=rate)
    taken += [(e.time - 1.0, e.end + 1.0) for e in distractors]
    distractors += _place_others(mix, bed, duration, rng, taken, every=(40.0, 80.0), kinds={
        "slam": (pool["impacts"], (12.0, 20.0), 1), "cough": (pool["coughs"], (6.0, 10.0), 2),
        "notification": (pool["notifications"], (4.0, 10.0), 1)}, rate=rate)
    peak = float(np.max(np.abs(mix))) or 1.0
    if peak > 0.99:  # keep the mix unclipped (rare: loud bed and a loud reaction)
        mix *= 0.99 / peak
    truth = Recording(duration, bed_db, split, int(seed), reactions,
                      sorted(distractors, key=lambda e: e.time), effects, segments, mic)
    return mix.astype(np.float32), truth


def _through(samples: np.ndarray, audio_filter: str, rate: int) -> np.ndarray:
    """Mono ``samples`` at ``rate`` Hz through the ffmpeg audio filter ``audio_filter``, as
    many as went in (an :class:`~m0core.errors.OptionError` where ffmpeg refuses it)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar", str(rate),
           "-ac", "1", "-i", "pipe:0", "-af", audio_filter, "-f", "f32le", "-ac", "1",
           "-ar", str(rate), "pipe:1"]
    done = subprocess.run(cmd, input=samples.astype("<f4").tobytes(), capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise OptionError(f"mic {audio_filter!r}: ffmpeg refused it "
                          f"({reason(done.stderr.decode(errors='replace'))})")
    out = np.frombuffer(done.stdout, dtype="<f4").astype(np.float64)[:len(samples)]
    return np.pad(out, (0, len(samples) - len(out)))


def _segments(duration: float, beds: tuple[str, ...], rng: np.random.Generator
              ) -> list[tuple[float, float, str]]:
    """Bed segments of 60–180 s; "both" (music and talk) is the commonest."""
    weights = {"music": 2.0, "talk": 2.0, "both": 4.0, "noise": 1.0, "silence": 1.0}
    p = np.array([weights[b] for b in beds])
    out, start, last = [], 0.0, None
    while start < duration:
        choices = [b for b in beds if b != last] or list(beds)
        w = np.array([weights[b] for b in choices]) if len(choices) < len(beds) else p
        kind = choices[int(rng.choice(len(choices), p=w / w.sum()))]
        end = min(duration, start + rng.uniform(60.0, 180.0))
        if duration - end < 30.0:
            end = duration
        out.append((round(start, 3), round(end, 3), kind))
        start, last = end, kind
    return out


def _music_shape(gain: np.ndarray, t: np.ndarray, rng: np.random.Generator,
                 distractors: list[synth.Event]) -> np.ndarray:
    """Quiet passages (−6…−10 dB for 8–20 s) and swells (+5…+8 dB for 4–10 s, recorded as
    distractors) on the music's gain curve, where there is music."""
    gain = gain.copy()
    pos = rng.uniform(10.0, 40.0)
    while pos < t[-1] - 20.0:
        i = int(pos * 100)
        if gain[i] > -100.0:
            swell = rng.random() < 0.5
            length = rng.uniform(4.0, 10.0) if swell else rng.uniform(8.0, 20.0)
            depth = rng.uniform(5.0, 8.0) if swell else -rng.uniform(6.0, 10.0)
            k = int(length * 100)
            ramp = np.minimum(1.0, np.minimum(np.arange(k), np.arange(k)[::-1]) / 150.0)
            seg = slice(i, min(len(gain), i + k))
            gain[seg] += depth * ramp[:seg.stop - seg.start]
            if swell:
                distractors.append(synth.Event(round(pos, 3), round(length, 3), "swell",
                                               round(depth, 2)))
        pos += rng.uniform(25.0, 60.0)
    return gain


def _music(n: int, tracks: list[Path], rng: np.random.Generator, rate: int) -> np.ndarray:
    """``n`` samples of music at 0 dBFS RMS: pieces of random tracks, 1 s crossfades. Each
    piece is scaled to unit RMS as a whole, so the music's own dynamics stay."""
    out = np.zeros(n)
    pos, fade = 0, rate
    while pos < n:
        track = tracks[int(rng.integers(len(tracks)))]
        total = _duration(track)
        length = min(total, rng.uniform(60.0, 150.0))
        piece = _load(track, float(rng.uniform(0.0, max(0.0, total - length))), length, rate)
        piece = piece / (_rms(piece) or 1.0)
        ramp = np.ones(len(piece))
        f = min(fade, len(piece) // 4)
        ramp[:f], ramp[len(piece) - f:] = np.linspace(0, 1, f), np.linspace(1, 0, f)
        end = min(n, pos + len(piece))
        out[pos:end] += (piece * ramp)[:end - pos]
        pos = end - f if end < n else n
    return out


def _talk(n: int, lines: list[Path], rng: np.random.Generator, gain_db: np.ndarray,
          sparse: np.ndarray, rate: int) -> np.ndarray:
    """Speech at about 0 dBFS RMS while talking: lines one after another (sentences more
    often than single words) with pauses of 0.1–0.5 s, now and then 0.5–1.5 s or 2–4 s
    (three times as long where ``sparse``); each line ±2 dB. Nothing where ``gain_db`` is
    off. ``gain_db`` and ``sparse`` are given every 10 ms."""
    sentences = [p for p in lines if "fillets" in str(p)] or lines
    out = np.zeros(n)
    pos = int(rng.uniform(0.0, 2.0) * rate)
    while pos < n:
        pick = sentences if rng.random() < 0.6 else lines
        line = _load(pick[int(rng.integers(len(pick)))], rate=rate)
        at = min(len(gain_db) - 1, pos // (rate // 100))
        if gain_db[at] > -100.0:
            end = min(n, pos + len(line))
            level = 10.0 ** (rng.uniform(-2.0, 2.0) / 20.0) / _active_rms(line, rate)
            out[pos:end] += line[:end - pos] * level
            pos = end
        draw = rng.random()
        pause = (rng.uniform(0.1, 0.5) if draw < 0.8 else rng.uniform(0.5, 1.5) if draw < 0.95
                 else rng.uniform(2.0, 4.0))
        pos += int(pause * (3.0 if sparse[at] else 1.0) * rate)
    return out


def _local_db(bed: np.ndarray, start: int, length: int, rate: int) -> float:
    """The bed's RMS level in dB from 4 s before to 4 s after ``[start, start + length)``."""
    lo, hi = max(0, start - 4 * rate), min(len(bed), start + length + 4 * rate)
    return _db(_rms(bed[lo:hi]))


def _add(mix: np.ndarray, bed: np.ndarray, sound: np.ndarray, time: float,
         gain_db: float, rate: int) -> int:
    """Mix ``sound`` at ``time`` seconds, ``gain_db`` over the local bed; returns its length
    in samples as placed."""
    start = int(time * rate)
    sound = sound[:len(mix) - start]
    target = _local_db(bed, start, len(sound), rate) + gain_db
    mix[start:start + len(sound)] += sound * (10.0 ** (target / 20.0) / _active_rms(sound, rate))
    return len(sound)


def _reaction(voices: list[list[Path]], rng: np.random.Generator, rate: int) -> np.ndarray:
    """2–4 lines of one speaker in a row (gaps of 0.05–0.35 s), 2–5 s in all."""
    lines = voices[int(rng.integers(len(voices)))]
    want, parts, total = int(rng.integers(2, 5)), [], 0
    for _ in range(40):
        line = _load(lines[int(rng.integers(len(lines)))], rate=rate)
        line = line / _active_rms(line, rate) * 10.0 ** (rng.uniform(-2.0, 2.0) / 20.0)
        gap = np.zeros(int(rng.uniform(0.05, 0.35) * rate)) if parts else np.zeros(0)
        if total + len(gap) + len(line) > 5 * rate:
            if total >= 2 * rate and len(parts) >= 2 * 2 - 1:
                break
            continue
        parts += [gap, line]
        total += len(gap) + len(line)
        if len(parts) >= 2 * want and total >= 2 * rate:
            break
    return np.concatenate(parts)


def _place_reactions(mix: np.ndarray, bed: np.ndarray, duration: float, pool: dict,
                     rng: np.random.Generator, rate: int) -> list[synth.Event]:
    """Reactions every 35–90 s, 10–16 dB over the local bed."""
    out, pos = [], rng.uniform(15.0, 40.0)
    while pos < duration - 15.0:
        sound = _reaction(pool["voices"], rng, rate)
        gain = float(rng.uniform(10.0, 16.0))
        length = _add(mix, bed, sound, pos, gain, rate)
        out.append(synth.Event(round(pos, 3), round(length / rate, 3), "reaction",
                               round(gain, 2)))
        pos += rng.uniform(35.0, 90.0)
    return out


def _place_others(mix: np.ndarray, bed: np.ndarray, duration: float,
                  rng: np.random.Generator, taken: list[tuple[float, float]], *,
                  every: tuple[float, float], kinds: dict, rate: int) -> list[synth.Event]:
    """Sounds of ``kinds`` (name → (paths, gain range, repeats)) every ``every`` seconds,
    away from the ``taken`` spans (reactions keep 4 s clear)."""
    names = sorted(kinds)
    out, pos = [], rng.uniform(*every) / 2
    while pos < duration - 5.0:
        name = names[int(rng.integers(len(names)))]
        paths, (low, high), repeats = kinds[name]
        sound = _load(paths[int(rng.integers(len(paths)))], rate=rate)[:3 * rate].copy()
        sound[-rate // 5:] *= np.linspace(1.0, 0.0, len(sound[-rate // 5:]))
        if repeats > 1:  # a cough comes in twos
            gap = np.zeros(int(rng.uniform(0.2, 0.5) * rate))
            sound = np.concatenate([sound, gap, sound * rng.uniform(0.7, 1.0)])
        end = pos + len(sound) / rate
        if end < duration - 1.0 and not any(a - 4.0 < end and pos < b + 4.0
                                            for a, b in taken):
            gain = float(rng.uniform(low, high))
            length = _add(mix, bed, sound, pos, gain, rate)
            out.append(synth.Event(round(pos, 3), round(length / rate, 3), name,
                                   round(gain, 2)))
        pos += rng.uniform(*every)
    return out


# -- writing ------------------------------------------------------------------------------

def write(path: str | os.PathLike, duration: float, *, rate: int = SAMPLE_RATE,
          **kw) -> Recording:
    """Compose a recording (``rate`` and ``kw`` as :func:`compose`) and encode it at ``rate``
    with ffmpeg by the file's extension (``.wav``, ``.flac``, ``.m4a``/``.mp4`` AAC,
    ``.mkv``/``.mka`` Opus); returns its ground truth. The file appears complete or not at
    all."""
    samples, truth = compose(duration, rate=rate, **kw)
    encode(path, iter([samples]), rate)
    return truth


def encode(path: str | os.PathLike, blocks: Iterator[np.ndarray], rate: int = SAMPLE_RATE
           ) -> None:
    """Encode mono float samples at ``rate`` Hz (``blocks`` of them, in order) with ffmpeg by
    the file's extension, as :func:`write` does; the file appears complete or not at all."""
    path = Path(path)
    codec = {".m4a": ["-c:a", "aac", "-b:a", "128k"], ".mp4": ["-c:a", "aac", "-b:a", "128k"],
             ".mkv": ["-c:a", "libopus", "-b:a", "96k"],
             ".mka": ["-c:a", "libopus", "-b:a", "96k"]}.get(path.suffix.lower(), [])
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0",
           *codec, "-ac", "2", str(tmp)]
    synth.encode(cmd, blocks, tmp, path, "recording")
