"""Selections kept beside a cached score curve, so a re-run with the same options skips the
selector as well as the decoding.

A selection is what a selector gave (its highlights, in the order it gave them, and the level
it judged by, :class:`~m0core.model.Line`) when it was fed a cached curve whole. It is kept only
for a selection made that way, and keyed by everything that decides it: the curve (its cache
key and the SHA-256 of its values), the selector's name, parameters and threshold, the timeline
(hop, duration, clip window, minimum gap), the versions of m0, of the selector's distribution and
of numpy, the code itself — the size and modification time of every Python file of m0 and
of the selector's package, so an edit of a selector (or of m0's level arithmetic) selects
again without a version bump — and the check's model (:mod:`m0core.judge.check`). Replaying
it gives exactly the highlights the selector would give again on that curve.

Like the curves (:mod:`m0core.pipeline.cache`), nothing in a kept selection is trusted: it must
be small, of the expected shape and types, its identity equal to the key's and its times inside
the media; anything else is ignored (and overwritten by the run that then selects).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from m0core.errors import OutputError
from m0core.judge import check, voiced
from m0core.model import Highlight, Line, Stage, Timeline
from m0core.pipeline import cache
from m0core.plugins import Deferred
from m0core.version import __version__

#: Bumped when what a kept selection holds, or how it is keyed, changes.
FORMAT = 1
#: The largest kept selection read, besides 16 bytes per score value of the curve.
_BASE_BYTES = 256 * 1024
#: The longest ``kind`` or ``reason`` of a kept highlight.
_MAX_TEXT = 1000


@dataclass(frozen=True)
class Selection:
    """What a selector gave on a whole curve: its highlights (in its order, before the pipeline
    numbers them) and the level it judged by, if it reports one."""

    highlights: tuple[Highlight, ...]
    line: Line | None


def identity(curve_key: dict[str, Any], curve: cache.Entry, selector: Stage,
             modules: tuple[str, ...], threshold: float | None, timeline: Timeline,
             plugin_version: str | None) -> dict[str, Any]:
    """Everything that decides the selection on ``curve`` (the entry of ``curve_key``) made by
    ``selector`` (built with ``threshold`` and ``timeline``; its code lives in ``modules``,
    its plugin's distribution is at ``plugin_version``), as a JSON-ready dict."""
    return {
        "format": FORMAT,
        "curve": cache.key_of(curve_key),
        "curve_sha256": curve.sha256,
        "selector": selector.name,
        "params": selector.params,
        "threshold": threshold,
        "timeline": asdict(timeline),
        "versions": {"m0": __version__, "selector": plugin_version, "numpy": np.__version__},
        "code": code_fingerprint(*modules),
        "check": check.fingerprint(),
        "voiced": check.fingerprint(voiced.MODEL),
    }


def code_fingerprint(*modules: str) -> str:
    """A digest of the path, size and modification time of every ``.py`` file of m0
    (``m0core``) and of the top-level package of each of ``modules`` (a module outside a
    package: its file); about 2 ms for m0 and its built-in plugins."""
    digest = hashlib.sha256()
    for top in sorted({"m0core", *(module.partition(".")[0] for module in modules)}):
        package = sys.modules.get(top)
        roots = list(getattr(package, "__path__", None) or [getattr(package, "__file__", None)])
        for root in filter(None, roots):
            for path in _python_files(Path(root)):
                try:
                    stat = path.stat()
                    digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
                except OSError:  # removed while listed: the code is changing
                    digest.update(f"{path}\0gone\n".encode())
    return digest.hexdigest()[:32]


def factory_module(factory: Any) -> str:
    """The module a stage factory comes from (a deferred one's target, a partial's function):
    with the selector's class, the code whose files key a selection."""
    factory = getattr(factory, "func", factory)  # functools.partial
    if isinstance(factory, Deferred):
        return factory.target.partition(":")[0]
    return str(getattr(factory, "__module__", None) or "m0core")


def _python_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [Path(folder, f) for f in sorted(files) if f.endswith(".py")]
    return found


def _path(ident: dict[str, Any]) -> Path:
    return cache.cache_dir() / (cache.key_of(ident) + cache.SUFFIX_SELECTION)


class _Invalid(Exception):
    """Not a selection this cache kept for this key."""


def load(ident: dict[str, Any], curve: cache.Entry) -> Selection | None:
    """The selection kept for ``ident`` (made on ``curve``) if present and valid, else ``None``."""
    limit = _BASE_BYTES + 16 * len(curve.scores)
    try:
        with open(_path(ident), "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError:
        return None
    try:
        if len(raw) > limit:
            raise _Invalid("too large")
        return _validated(json.loads(raw.decode("utf-8")), ident, curve)
    except (_Invalid, ValueError, TypeError, RecursionError, binascii.Error):
        return None


def _validated(kept: Any, ident: dict[str, Any], curve: cache.Entry) -> Selection:
    if not isinstance(kept, dict) or set(kept) != {"identity", "highlights", "line"}:
        raise _Invalid("not a selection")
    if json.loads(json.dumps(ident, default=str)) != kept["identity"]:
        raise _Invalid("another identity")
    if not isinstance(kept["highlights"], list) or len(kept["highlights"]) > len(curve.scores):
        raise _Invalid("highlights")
    end = (curve.media.duration or len(curve.scores) * curve.hop) + 1.0
    highlights = tuple(_highlight(h, end) for h in kept["highlights"])
    return Selection(highlights, _line(kept["line"], end))


_NUMBERS = ("start", "end", "peak_time", "peak_db", "score")
_FIELDS = {f.name for f in fields(Highlight)}


def _highlight(kept: Any, end: float) -> Highlight:
    if not isinstance(kept, dict) or set(kept) != _FIELDS:
        raise _Invalid("highlight")
    for name in _NUMBERS:
        if isinstance(kept[name], bool) or not isinstance(kept[name], float | int):
            raise _Invalid(f"highlight {name}")
    for name in ("kind", "reason"):
        if not isinstance(kept[name], str) or len(kept[name]) > _MAX_TEXT:
            raise _Invalid(f"highlight {name}")
    if isinstance(kept["index"], bool) or not isinstance(kept["index"], int):
        raise _Invalid("highlight index")
    times = [kept["start"], kept["end"], kept["peak_time"]]
    if not all(math.isfinite(t) and -1.0 <= t <= end for t in times) \
            or kept["start"] > kept["end"]:
        raise _Invalid("highlight times")
    return Highlight(**kept)


def _line(kept: Any, end: float) -> Line | None:
    if kept is None:
        return None
    if not isinstance(kept, dict) or set(kept) != {"step", "values", "label"}:
        raise _Invalid("line")
    step, values, label = kept["step"], kept["values"], kept["label"]
    if isinstance(step, bool) or not isinstance(step, float | int) or not isinstance(values, str) \
            or not isinstance(label, str) or len(label) > _MAX_TEXT:
        raise _Invalid("line")
    if not (math.isfinite(step) and step > 0):
        raise _Invalid("line step")
    data = base64.b64decode(values, validate=True)
    if len(data) % 8 or len(data) // 8 > end / step + 2:
        raise _Invalid("line values")
    return Line(step, np.frombuffer(data, dtype="<f8").astype(np.float64), label)


def _kept(h: Highlight) -> dict[str, Any]:
    """``h`` as JSON values (a selector may give numpy numbers: the same values as floats)."""
    kept = asdict(h)
    kept.update({name: float(kept[name]) for name in _NUMBERS})
    return kept


def store(ident: dict[str, Any], selection: Selection) -> bool:
    """Keep ``selection`` under ``ident`` (atomically). A cache that cannot be written is no
    error: returns ``False``."""
    line = selection.line
    kept = {
        "identity": ident,
        "highlights": [_kept(h) for h in selection.highlights],
        "line": None if line is None else {
            "step": float(line.step),
            "values": base64.b64encode(np.asarray(line.values, dtype="<f8").tobytes()
                                       ).decode("ascii"),
            "label": line.label},
    }
    from m0core.outputs import write_text_atomic  # not needed to read the cache

    path = _path(ident)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(kept, default=str))
    except (OSError, OutputError, TypeError, ValueError):
        return False
    return True
