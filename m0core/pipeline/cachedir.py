"""Where the analysis cache lives, and whether it holds a curve of a file: read without numpy,
so ``m0 analyze`` can tell before its own imports whether a decoding worker is worth
prestarting (:func:`m0core.pipeline.prestart`). The entries themselves are
:mod:`m0core.pipeline.cache`'s.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from m0core.identity import FileIdentity

#: An empty file per analysed file, named by the file's identity: the cache holds a curve of
#: it (of some source and analyzer; not necessarily the ones asked for next).
SUFFIX_SEEN = ".seen"


def cache_dir() -> Path:
    """Where entries live: ``M0_CACHE_DIR`` or the platform's user cache folder."""
    env = os.environ.get("M0_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("m0")) / "analysis"


def _seen_path(identity: FileIdentity) -> Path:
    return cache_dir() / (hashlib.sha256(identity.token().encode()).hexdigest()[:40]
                          + SUFFIX_SEEN)


def mark_seen(identity: FileIdentity) -> None:
    """Note that the cache now holds a curve of the file ``identity`` (a cache that cannot be
    written is no error)."""
    try:
        _seen_path(identity).touch()
    except OSError:
        pass


def seen(path: str | os.PathLike) -> bool:
    """Whether the cache holds a curve of the file at ``path`` as it is now (a hint: the curve
    may be of another source or analyzer, or invalid)."""
    try:
        return _seen_path(FileIdentity.of(path)).exists()
    except (OSError, UnicodeError):  # no file, or a name the cache cannot hold (not UTF-8)
        return False
