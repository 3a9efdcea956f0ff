"""The analysis cache: the score curve of a file, so re-tuning never decodes again.

An entry is keyed by the file's identity (absolute path, size, mtime), the source and the
analyzer (names, parameters, versions) and this cache's format. It is two files: raw
little-endian float32 scores and a JSON description holding the key's inputs, the media
information, the hop and a SHA-256 of the scores. An entry whose description does not match
its key or whose scores fail the checksum is ignored (and overwritten by the next run); the
cache never unpickles anything.

The folder is ``M0_CACHE_DIR``, else the user cache directory (``platformdirs``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from m0core.errors import OutputError
from m0core.model import MediaInfo

FORMAT = 1
SUFFIX_META = ".json"
SUFFIX_DATA = ".f32"


def cache_dir() -> Path:
    """Where entries live: ``M0_CACHE_DIR`` or the platform's user cache folder."""
    env = os.environ.get("M0_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("m0")) / "analysis"


@dataclass(frozen=True)
class Entry:
    """A cached analysis: what the file is and its score curve."""

    media: MediaInfo
    hop: float
    scores: np.ndarray


def identity(path: str | os.PathLike, source: str, source_params: dict[str, Any],
             analyzer: str, analyzer_params: dict[str, Any], versions: dict[str, str]
             ) -> dict[str, Any]:
    """Everything that decides a score curve, as a JSON-ready dict."""
    p = Path(path).absolute()
    st = p.stat()
    return {
        "format": FORMAT,
        "path": str(p),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
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


def load(ident: dict[str, Any]) -> Entry | None:
    """The entry for ``ident`` if present and intact, else ``None``."""
    base = cache_dir() / key_of(ident)
    try:
        meta = json.loads(base.with_suffix(SUFFIX_META).read_text(encoding="utf-8"))
        data = base.with_suffix(SUFFIX_DATA).read_bytes()
    except (OSError, ValueError):
        return None
    try:
        if json.loads(json.dumps(ident, default=str)) != meta["identity"]:
            return None
        if hashlib.sha256(data).hexdigest() != meta["sha256"] or len(data) % 4:
            return None
        media = MediaInfo(**meta["media"])
        hop = float(meta["hop"])
    except (KeyError, TypeError, ValueError):
        return None
    scores = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if len(scores) != meta.get("count"):
        return None
    return Entry(media, hop, scores)


def store(ident: dict[str, Any], media: MediaInfo, hop: float, scores: np.ndarray) -> bool:
    """Save an entry (data first, description last, each atomically). A cache that cannot be
    written is no error: returns ``False``."""
    folder = cache_dir()
    base = folder / key_of(ident)
    data = np.asarray(scores, dtype="<f4").tobytes()
    meta = {
        "identity": ident, "media": asdict(media), "hop": hop, "count": len(data) // 4,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    from m0core.outputs import write_text_atomic  # not needed to read the cache

    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(base.with_suffix(SUFFIX_DATA), data)
        write_text_atomic(base.with_suffix(SUFFIX_META), json.dumps(meta, default=str))
    except (OSError, OutputError):
        return False
    return True


def info() -> dict[str, Any]:
    """The folder, the number of entries and their size in bytes."""
    folder = cache_dir()
    files = list(folder.glob(f"*{SUFFIX_META}")) + list(folder.glob(f"*{SUFFIX_DATA}"))
    return {
        "folder": str(folder),
        "entries": sum(1 for f in files if f.suffix == SUFFIX_META),
        "bytes": sum(f.stat().st_size for f in files if f.exists()),
    }


def clear() -> int:
    """Delete every entry; return how many there were."""
    folder = cache_dir()
    count = 0
    for f in list(folder.glob(f"*{SUFFIX_META}")) + list(folder.glob(f"*{SUFFIX_DATA}")):
        count += f.suffix == SUFFIX_META
        f.unlink(missing_ok=True)
    return count
