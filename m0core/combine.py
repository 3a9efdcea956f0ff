"""Several analyzers as one: ``--analyzer rms-streaming+onset``.

Each part is built by name through the plugin registry (:func:`m0core.plugins.create`) and
fed every chunk; the combined score
of a hop is the **sum** of the parts' scores for that hop. The parts are dB-like, so the sum is
the product of their linear measures: a hop that is both loud and sharp stands out more than
one that is only one of the two, which is what the relative selectors (``standout``,
``adaptive``) look for.
The sum is no longer in the parts' units, so an absolute ``--threshold`` meant for one of them
does not apply to it. All parts must have the same ``hop``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from m0core.errors import OptionError
from m0core.model import AudioChunk

#: ``blame(kind, name)``: a context manager that reports a part's exception as its plugin's.
Blame = Callable[[str, str], AbstractContextManager[None]]


def parts(name: str) -> list[str]:
    """The registered analyzer names an analyzer name stands for: ``"a+b"`` → ``["a", "b"]``,
    ``"a"`` → ``["a"]``. The one place ``+`` is parsed."""
    names = name.split("+")
    if len(names) > 1 and (any(not part for part in names) or len(set(names)) != len(names)):
        raise OptionError(f'analyzer "{name}": expected distinct names joined by "+"')
    return names


class Combined:
    """The per-hop sum of several analyzers' scores, as soon as every part has given it."""

    def __init__(self, parts: Mapping[str, Any], blame: Blame) -> None:
        hops = {name: float(part.hop) for name, part in parts.items()}
        if len(set(hops.values())) > 1:
            listed = ", ".join(f"{name} {hop:g} s" for name, hop in hops.items())
            raise OptionError(f"analyzers combined with + need the same hop ({listed})")
        self.parts = dict(parts)
        self._blame = blame
        self.hop = next(iter(hops.values()))
        self.version = "+".join(str(getattr(p, "version", "")) for p in self.parts.values())
        self._pending = {name: np.zeros(0, dtype=np.float64) for name in self.parts}

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        """The summed scores of the hops every part has completed."""
        for name, part in self.parts.items():
            with self._blame("analyzers", name):
                scores = part.feed(chunk)
            self._add(name, scores)
        return self._take()

    def finish(self) -> np.ndarray:
        """The rest; hops only some parts gave (a different count at the end) are dropped."""
        for name, part in self.parts.items():
            finish = getattr(part, "finish", None)
            if finish is not None:
                with self._blame("analyzers", name):
                    scores = finish()
                self._add(name, scores)
        return self._take()

    def _add(self, name: str, scores: np.ndarray) -> None:
        self._pending[name] = np.concatenate([self._pending[name],
                                              np.asarray(scores, dtype=np.float64)])

    def _take(self) -> np.ndarray:
        ready = min(len(values) for values in self._pending.values())
        total = np.zeros(ready, dtype=np.float64)
        for name, values in self._pending.items():
            total += values[:ready]
            self._pending[name] = values[ready:]
        return total.astype(np.float32)
