"""Names a package imports on first use (PEP 562), so ``import m0core`` and a segment worker's
``import m0core.pipeline`` stay cheap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def loader(package: str, table: Mapping[str, str], namespace: dict[str, Any]
           ) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``name`` is imported from the module
    ``table[name]`` on first use and kept in ``namespace`` (the package's ``globals()``)."""

    def __getattr__(name: str) -> object:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(table[name]), name)
        namespace[name] = value
        return value

    return __getattr__
