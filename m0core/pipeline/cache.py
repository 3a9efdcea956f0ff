"""The analysis cache: the score curve of a file, so re-tuning never decodes again.

An entry is keyed by the file's identity (:class:`~m0core.identity.FileIdentity`: resolved
path, device, inode, size, mtime and ctime), the source and the analyzer (names, parameters,
versions) and this cache's format. It is three files: raw little-endian float32 scores, the
spectra of the audio (:mod:`m0core.judge.spectra`'s codes, 48 bytes a frame: 3.5 MB an hour;
none for audio under its lowest rate), and a JSON description holding the key's inputs, the
media information (without any path), the hop, a SHA-256 of the scores and of the spectra
and, for a file cut short, the length it declares (so a run from the cache warns as the run
that decoded it did). The spectra are written as they are decoded (:class:`Spool`), so a
long file's never sit in memory.

Nothing in an entry is trusted: the description must be small, a JSON object of the expected
shape and types, its identity equal to the key's, its hop the analyzer's own, its media
numbers finite and in range, its scores match their checksum, be finite and as many as the
duration and hop imply. Anything else is ignored (and overwritten by the run that then
decodes). A hit never hands back a stored path: the media of an entry names the file the
caller named now. The cache never unpickles anything.

The folder is ``M0_CACHE_DIR``, else the user cache directory (``platformdirs``); an empty
mark per analysed file tells a front end without numpy that a curve of it is likely kept
(:mod:`m0core.pipeline.cachedir`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from m0core import checks
from m0core.errors import M0Error, OutputError
from m0core.identity import FileIdentity
from m0core.judge import spectra as judge_spectra
from m0core.model import MediaInfo
from m0core.pipeline.cachedir import SUFFIX_SEEN, cache_dir, mark_seen

#: 2: the file's identity (m0core.identity) and validated entries; curves on the players'
#: timeline (1 counted from the audio's own start); 3: both, and the audio track in the key
#: (the source's ``audio_track`` parameter) and every track's description in the media; 4: a
#: Matroska file's duration counted from its start (m0core.media.ffmpeg.players_duration); 5:
#: an Ogg Opus file's too; 6: the spectra.
FORMAT = 6
SUFFIX_META = ".json"
SUFFIX_DATA = ".f32"
SUFFIX_SPECTRA = ".u8"
#: A selection kept for a curve (:mod:`m0core.pipeline.selections`).
SUFFIX_SELECTION = ".sel"
#: The largest description read (a real one is a few KiB); bigger ones are ignored unread.
MAX_META_BYTES = 256 * 1024
#: Score values an entry may hold beyond ``duration / hop`` (the partial values at the edges).
_SLACK_VALUES = 2
#: The longest media an entry may describe (seconds; also the bound of an unknown duration).
_MAX_SECONDS = 1e7


@dataclass(frozen=True)
class Entry:
    """A cached analysis: what the file is, its score curve and the curve's SHA-256."""

    media: MediaInfo
    hop: float
    scores: np.ndarray
    sha256: str
    #: The length the file declares where its audio ends well before it (a file without
    #: video cut short: ``Plan.cut_short_of``), else ``None``.
    cut_short_of: float | None = None
    #: The spectra (read from the file as needed), frame ``first`` on; ``None`` for audio
    #: under their lowest rate.
    spectra: np.ndarray | None = None
    first: int = 0


def identity(path: str | os.PathLike, source: str, source_params: dict[str, Any],
             analyzer: str, analyzer_params: dict[str, Any], versions: dict[str, str]
             ) -> dict[str, Any]:
    """Everything that decides a score curve, as a JSON-ready dict."""
    return {
        "format": FORMAT,
        "file": FileIdentity.of(path).to_dict(),
        "source": source,
        "source_params": source_params,
        "analyzer": analyzer,
        "analyzer_params": analyzer_params,
        "versions": versions,
    }


def key_of(ident: dict[str, Any]) -> str:
    """The hex digest naming the entry of ``ident``."""
    text = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class _Invalid(Exception):
    """The entry is not one this cache wrote for this key."""


def load(ident: dict[str, Any], path: str | os.PathLike, hop: float) -> Entry | None:
    """The entry for ``ident`` if present and valid, else ``None``.

    ``path`` is the file as the caller names it now (the entry's media gets it; no stored
    path is ever used) and ``hop`` the analyzer's own hop (an entry with another is invalid).
    """
    base = cache_dir() / key_of(ident)
    try:
        with open(base.with_suffix(SUFFIX_META), "rb") as fh:
            raw = fh.read(MAX_META_BYTES + 1)
        if len(raw) > MAX_META_BYTES:
            raise _Invalid("description too large")
        meta = json.loads(raw.decode("utf-8"))
        media, count, digest = _described(meta, ident, os.fspath(path), hop)
        data_path = base.with_suffix(SUFFIX_DATA)
        if data_path.stat().st_size != 4 * count:  # checked before a byte of it is read
            raise _Invalid("scores")
        data = data_path.read_bytes()
        if len(data) != 4 * count or hashlib.sha256(data).hexdigest() != digest:
            raise _Invalid("scores")
    except (OSError, _Invalid, ValueError, RecursionError, M0Error):
        return None
    scores = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.isfinite(scores).all():
        return None
    try:
        codes, first = _spectra(meta.get("spectra"), base.with_suffix(SUFFIX_SPECTRA), media)
    except (OSError, _Invalid, ValueError):
        return None
    return Entry(media, hop, scores, digest, meta.get("cut_short_of"), codes, first)


def _spectra(described: Any, path: Path, media: MediaInfo) -> tuple[np.ndarray | None, int]:
    """The spectra an entry's description says it keeps in ``path`` (mapped, not read into
    memory), checked as its scores are, and their first frame; ``(None, 0)`` for none."""
    if described is None:
        return None, 0
    if not isinstance(described, dict) or set(described) != {"first", "rows", "sha256"}:
        raise _Invalid("spectra")
    first, rows = described["first"], described["rows"]
    longest = media.duration if media.duration is not None else _MAX_SECONDS
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (first, rows)) \
            or first + rows > (longest + 1) * judge_spectra.FPS \
            or not isinstance(described["sha256"], str):
        raise _Invalid("spectra")
    size = rows * judge_spectra.BANDS
    if path.stat().st_size != size:  # checked before a byte of it is read
        raise _Invalid("spectra")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != described["sha256"]:
        raise _Invalid("spectra")
    if not rows:
        return judge_spectra.NONE, first
    codes = np.memmap(path, dtype=np.uint8, mode="r", shape=(rows, judge_spectra.BANDS))
    return codes, first


def _described(meta: Any, ident: dict[str, Any], path: str, expected_hop: float
               ) -> tuple[MediaInfo, int, str]:
    """``(media, count, sha256)`` of the scores the description ``meta`` describes, or
    :class:`_Invalid` (any value, any shape)."""
    if not isinstance(meta, dict) or set(meta) - {"cut_short_of", "spectra"} != {
            "identity", "media", "hop", "count", "sha256"}:  # older entries lack them
        raise _Invalid("not an entry")
    cut = meta.get("cut_short_of")
    if cut is not None and (isinstance(cut, bool) or not isinstance(cut, float | int)
                            or not math.isfinite(cut) or not 0 < cut < _MAX_SECONDS):
        raise _Invalid("cut_short_of")
    if json.loads(json.dumps(ident, default=str)) != meta["identity"]:
        raise _Invalid("another identity")
    hop = meta["hop"]
    if isinstance(hop, bool) or not isinstance(hop, float | int):
        raise _Invalid("hop")
    hop = checks.hop(hop)
    if not math.isclose(hop, expected_hop, rel_tol=1e-9, abs_tol=0.0):
        raise _Invalid("another hop")
    count = meta["count"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise _Invalid("count")
    if not isinstance(meta["sha256"], str):
        raise _Invalid("scores")
    media = _media(meta["media"], path)
    longest = media.duration if media.duration is not None else _MAX_SECONDS
    if count > longest / hop + _SLACK_VALUES:
        raise _Invalid("more scores than the duration holds")
    if count == 0:
        raise _Invalid("no scores")  # (fewer than the duration holds is fine: short audio)
    return media, count, meta["sha256"]


#: The fields of a stored media description and the types each may have.
_MEDIA_FIELDS: dict[str, tuple[type, ...]] = {
    "duration": (float, int, type(None)), "sample_rate": (int,), "channels": (int,),
    "has_audio": (bool,), "has_video": (bool,), "audio_codec": (str, type(None)),
    "video_codec": (str, type(None)), "container": (str, type(None)), "size": (int,),
    "tracks": (list,),
}
#: The fields of a stored audio track (:class:`~m0core.model.AudioTrack`) and their types.
_TRACK_FIELDS: dict[str, tuple[type, ...]] = {
    "number": (int,), "codec": (str, type(None)), "channels": (int,), "sample_rate": (int,),
    "start": (float, int), "title": (str, type(None)), "language": (str, type(None)),
}
#: The most audio tracks an entry may describe.
_MAX_TRACKS = 256


def _fields(stored: Any, types_of: dict[str, tuple[type, ...]], what: str) -> None:
    """:class:`_Invalid` unless ``stored`` is a dict of exactly ``types_of``'s fields, each of
    one of its types (no bool for a number) and no string longer than 200 characters."""
    if not isinstance(stored, dict) or set(stored) != set(types_of):
        raise _Invalid(what)
    for name, types in types_of.items():
        value = stored[name]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise _Invalid(f"{what} {name}")
        if isinstance(value, str) and len(value) > 200:
            raise _Invalid(f"{what} {name}")


def _track(stored: Any) -> dict[str, Any]:
    _fields(stored, _TRACK_FIELDS, "media track")
    if not (0 < stored["number"] <= _MAX_TRACKS and 0 <= stored["channels"] <= 1024
            and 0 <= stored["sample_rate"] <= 10_000_000
            and math.isfinite(stored["start"]) and 0 <= stored["start"] < 1e7):
        raise _Invalid("media track numbers")
    return stored


def _media(stored: Any, path: str) -> MediaInfo:
    _fields(stored, _MEDIA_FIELDS, "media")
    if len(stored["tracks"]) > _MAX_TRACKS:
        raise _Invalid("media tracks")
    tracks = tuple(_track(t) for t in stored["tracks"])
    duration = stored["duration"]
    if duration is not None and not (math.isfinite(duration) and 0 < duration < _MAX_SECONDS):
        raise _Invalid("media duration")
    if not (0 < stored["sample_rate"] <= 10_000_000 and 0 < stored["channels"] <= 1024
            and stored["size"] >= 0):
        raise _Invalid("media numbers")
    return MediaInfo(path=path, **{**stored, "tracks": tracks})


class Spool:
    """The spectra of a file being decoded, written as they come (:meth:`write`) to a
    temporary file of the cache folder, for :func:`store` to keep beside its curve. One that
    could not be written is :attr:`failed` (the entry is then not stored: a run from it
    would judge without the spectra the decoding run had)."""

    def __init__(self) -> None:
        self._fh: Any = None
        self._path: Path | None = None
        self._digest = hashlib.sha256()
        self.first: int | None = None
        self.rows = 0
        self.failed = False

    def write(self, codes: np.ndarray, first: int) -> None:
        """Append the codes of the frames from ``first`` on (a gap before it: silence)."""
        if self.failed or not len(codes):
            return
        try:
            if self._path is None:
                from m0core.outputs import temp_name

                folder = cache_dir()
                folder.mkdir(parents=True, exist_ok=True)
                # named before it is made: a stop while it is made removes it too
                self._path = folder / temp_name(f"spectra{SUFFIX_SPECTRA}")
                self._fh, self.first = open(self._path, "xb"), first
            data = judge_spectra.aligned(codes, first, self.first + self.rows).tobytes()
            self._fh.write(data)
            self._digest.update(data)
            self.rows += len(data) // judge_spectra.BANDS
        except OSError:
            self.failed = True
            self.discard()

    def keep(self, path: Path) -> dict[str, Any] | None:
        """Move the spectra to ``path``; their description (``None`` when there were
        none). :class:`OSError` if it cannot."""
        if self._fh is None:
            return None
        self._fh.close()
        os.chmod(self._path, 0o644)
        os.replace(self._path, path)
        self._fh = self._path = None
        return {"first": self.first, "rows": self.rows, "sha256": self._digest.hexdigest()}

    def discard(self) -> None:
        """Remove the temporary file (nothing if it was kept)."""
        if self._fh is not None:
            with suppress(OSError):
                self._fh.close()
        if self._path is not None:
            with suppress(OSError):
                self._path.unlink(missing_ok=True)
        self._fh = self._path = None


def store(ident: dict[str, Any], media: MediaInfo, hop: float, scores: np.ndarray,
          cut_short_of: float | None = None, spectra: Spool | None = None) -> bool:
    """Save an entry (data and spectra first, description last, each atomically), unless the
    file changed since ``ident`` was taken or its ``spectra`` failed. A cache that cannot be
    written is no error: returns ``False``. The spool is kept or discarded either way."""
    spool = spectra or Spool()
    try:
        return _stored(ident, media, hop, scores, cut_short_of, spool)
    finally:
        spool.discard()


def _stored(ident: dict[str, Any], media: MediaInfo, hop: float, scores: np.ndarray,
            cut_short_of: float | None, spool: Spool) -> bool:
    try:
        if spool.failed or FileIdentity.of(media.path).to_dict() != ident["file"]:
            return False  # edited while it was decoded: the curve is of neither version
    except OSError:
        return False
    folder = cache_dir()
    base = folder / key_of(ident)
    data = np.asarray(scores, dtype="<f4").tobytes()
    described = {k: v for k, v in asdict(media).items() if k != "path"}
    from m0core.outputs import write_text_atomic  # not needed to read the cache

    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(base.with_suffix(SUFFIX_DATA), data)
        kept = spool.keep(base.with_suffix(SUFFIX_SPECTRA))
    except (OSError, OutputError):
        with suppress(OSError):
            base.with_suffix(SUFFIX_DATA).unlink(missing_ok=True)
        return False
    meta = {
        "identity": ident, "media": described, "hop": hop, "count": len(data) // 4,
        "sha256": hashlib.sha256(data).hexdigest(), "cut_short_of": cut_short_of,
        "spectra": kept,
    }
    try:
        write_text_atomic(base.with_suffix(SUFFIX_META), json.dumps(meta, default=str))
    except (OSError, OutputError):
        # no curve without its description: on a full disk it would hold the room the
        # next run's entry needs, and no run would ever read it
        for suffix in (SUFFIX_DATA, SUFFIX_SPECTRA):
            with suppress(OSError):
                base.with_suffix(suffix).unlink(missing_ok=True)
        return False
    mark_seen(FileIdentity(**ident["file"]))
    return True


#: The names of the cache's own files: a 40-digit key and the suffix of what it holds.
_SUFFIXES = "|".join(re.escape(x) for x in (SUFFIX_META, SUFFIX_DATA, SUFFIX_SPECTRA,
                                              SUFFIX_SELECTION, SUFFIX_SEEN))
_OWN = re.compile(f"[0-9a-f]{{40}}({_SUFFIXES})")


def _files() -> list[Path]:
    """Every file of the cache: curves (description, data and spectra), kept selections and the
    marks of the files analysed (:mod:`m0core.pipeline.cachedir`); nothing else that lies in
    the folder, even named alike (:func:`_written_here`). A folder that cannot be listed is
    an :class:`OutputError`."""
    folder = cache_dir()
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise OutputError(f"{folder}: cannot read the cache folder ({exc.strerror})") from None
    return [folder / name for name in names
            if _OWN.fullmatch(name) and _written_here(folder / name)]


#: How a description or a kept selection starts: the identity its name is the key of.
_IDENTITY_FIRST = '{"identity": '


def _written_here(path: Path) -> bool:
    """Whether ``path``, named as the cache names its files, is one the cache wrote (of any
    format): a description or a kept selection starts with the identity its name is the key
    of, a curve's data lies beside such a description (or alone: its run stopped before
    writing it), a mark is empty. Another program's ``<40 hex digits>.json`` is not."""
    try:
        if path.suffix == SUFFIX_SEEN:
            return path.is_file() and path.stat().st_size == 0
        if path.suffix in (SUFFIX_DATA, SUFFIX_SPECTRA):
            meta = path.with_suffix(SUFFIX_META)
            return not meta.exists() or _written_here(meta)
        with open(path, "rb") as fh:
            head = b""
            while True:  # the identity alone, a few KiB: a selection may hold megabytes
                more = fh.read(max(4096, len(head)))
                head += more
                try:
                    text = head.decode("utf-8", errors="replace")
                    if not text.startswith(_IDENTITY_FIRST[:len(text)]):
                        return False
                    ident, _ = json.JSONDecoder().raw_decode(text, len(_IDENTITY_FIRST))
                    break
                except ValueError:
                    if not more or len(head) >= MAX_META_BYTES:
                        return False
        return isinstance(ident, dict) and key_of(ident) == path.stem
    except (OSError, RecursionError):
        return False


def info() -> dict[str, Any]:
    """The folder, the number of entries (curves), the selections kept with them and the
    size in bytes of all (a file removed meanwhile by another run counts for nothing)."""
    files = _files()
    size = 0
    for f in files:
        with suppress(FileNotFoundError):
            size += f.stat().st_size
    return {
        "folder": str(cache_dir()),
        "entries": sum(1 for f in files if f.suffix == SUFFIX_META),
        "selections": sum(1 for f in files if f.suffix == SUFFIX_SELECTION),
        "bytes": size,
    }


def clear() -> int:
    """Delete every entry and kept selection, and the temporaries of runs that have ended;
    return how many entries (curves) there were. A file that cannot be deleted is an
    :class:`OutputError`; nothing else in the folder is touched."""
    from m0core.outputs import remove_stale_temps

    count = 0
    for f in _files():
        try:
            f.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(f"{f.parent}: cannot clear the cache ({exc.strerror})") from None
        count += f.suffix == SUFFIX_META
    remove_stale_temps(cache_dir())
    return count
