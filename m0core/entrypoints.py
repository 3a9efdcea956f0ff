"""The entry points of one group (``m0``) of the installed distributions, read from their
metadata files as :mod:`importlib.metadata` finds them, without importing it.

``importlib.metadata`` imports the ``email`` package, ``zipfile`` and more (about 15 ms) and
reads the entry points of every installed distribution (about 10 ms for 90), while m0 needs one
group, on every run. This reader lists each folder on ``sys.path`` once, as importlib.metadata
does (the first distribution of a name wins), and reads ``entry_points.txt`` from each
``*.dist-info`` / ``*.egg-info`` folder, and the name and version headers of the few that
declare an ``m0`` entry point. Where distributions may be found another way — a zip file or
an ``.egg`` on ``sys.path``, a finder on ``sys.meta_path`` that lists its own — it asks
importlib.metadata instead.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from importlib import import_module
from typing import Any

#: ``module[:attr.attr] [extras]``, as the entry-point specification (and importlib) reads it.
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


@dataclass(frozen=True)
class EntryPoint:
    """One entry point: its ``name``, ``value`` (``module:attr``) and the ``dist`` (name as
    its metadata spells it) and ``version`` of the distribution that declares it."""

    name: str
    value: str
    dist: str | None = None
    version: str | None = None

    def load(self) -> Any:
        """Import the module and return the object the value names."""
        return load(self.value)


def load(value: str) -> Any:
    """The object an entry-point value (``module[:attr.attr]``) names, its module imported."""
    found = _VALUE.match(value)
    if found is None:
        raise ValueError(f"invalid entry point value {value!r}")
    target: Any = import_module(found.group("module"))
    for part in filter(None, (found.group("attr") or "").split(".")):
        target = getattr(target, part)
    return target


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` of every installed distribution, in ``sys.path`` order
    (a distribution shadowed by an earlier one of the same name is left out)."""
    found = _from_files(group)
    return found if found is not None else _from_importlib(group)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _from_files(group: str) -> list[EntryPoint] | None:
    """The entry points read from the metadata folders, or ``None`` when distributions may
    be found in a way this reader does not follow."""
    from importlib.machinery import PathFinder

    if any(hasattr(finder, "find_distributions") and finder is not PathFinder
           for finder in sys.meta_path):
        return None
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for entry in sys.path:
        root = entry or "."
        try:
            children = os.listdir(root)
        except NotADirectoryError:
            return None  # a zip file: importlib.metadata reads inside it
        except OSError:
            continue  # a path that is not there (or a path hook's marker)
        if root.lower().endswith(".egg"):
            return None
        for child in children:
            low = child.lower()
            if low.endswith(".egg"):
                return None
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            name = _normalized(low.rpartition(".")[0].partition("-")[0])
            if name in seen:
                continue
            seen.add(name)
            found += _declared(os.path.join(root, child), group)
    return found


def _declared(folder: str, group: str) -> list[EntryPoint]:
    """The entry points of ``group`` in the metadata ``folder``, with its name and version."""
    try:
        with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return []
    pairs = _section(text, group)
    if not pairs:
        return []
    dist, version = _headers(folder)
    return [EntryPoint(name, value, dist, version) for name, value in pairs]


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """``(name, value)`` of each line of the ``[group]`` section of an ``entry_points.txt``
    (blank lines and ``#`` comments skipped, as importlib.metadata does)."""
    pairs: list[tuple[str, str]] = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section == group:
            name, _, value = line.partition("=")
            pairs.append((name.strip(), value.strip()))
    return pairs


def _headers(folder: str) -> tuple[str | None, str | None]:
    """The ``Name`` and ``Version`` headers of the folder's ``METADATA`` (or ``PKG-INFO``)."""
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(folder, file), encoding="utf-8") as fh:
                headers: dict[str, str] = {}
                for line in fh:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, sep, value = line.partition(":")
                    if sep and not line[0].isspace():
                        headers.setdefault(key.strip().lower(), value.strip())
                return headers.get("name"), headers.get("version")
        except (OSError, UnicodeDecodeError):
            continue
    return None, None


def _from_importlib(group: str) -> list[EntryPoint]:
    from importlib.metadata import entry_points as installed

    found = []
    for ep in installed(group=group):
        dist = ep.dist
        found.append(EntryPoint(ep.name, ep.value, dist.name if dist else None,
                                dist.version if dist else None))
    return found
