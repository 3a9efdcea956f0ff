"""Names a package imports on first use (PEP 562), so ``import m0core`` and a segment worker's
``import m0core.pipeline`` stay cheap."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from importlib import import_module
from typing import Any


def loader(package: str, table: Mapping[str, str], namespace: dict[str, Any],
           submodules: Collection[str] = ()) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``name`` is imported from the module
    ``table[name]`` on first use and kept in ``namespace`` (the package's ``globals()``); a
    name in ``submodules`` is the package's submodule of that name, imported on first use, so
    ``import m0core; m0core.contracts.Analyzer`` works as after ``import m0core.contracts``."""

    def __getattr__(name: str) -> object:
        if name in submodules:
            value = import_module(f"{package}.{name}")
        elif name in table:
            value = getattr(import_module(table[name]), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    return __getattr__
