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

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from m0core.errors import OptionError
from m0core.model import AudioChunk

#: ``scores(name, method, *args)``: what the part ``name``'s ``method(*args)`` returns, its
#: exception or values breaking the contract reported as its plugin's
#: (:func:`m0core.plugins.analyzer_scores`).
Scores = Callable[..., np.ndarray]
#: ``counted(name, values, samples, rate, hop)``: raise if the part ``name`` gave another
#: number of values than one per hop begun (:func:`m0core.plugins.check_count`).
Counted = Callable[[str, int, int, int, float], None]


def parts(name: str) -> list[str]:
    """The registered analyzer names an analyzer name stands for: ``"a+b"`` → ``["a", "b"]``,
    ``"a"`` → ``["a"]``. The one place ``+`` is parsed."""
    names = name.split("+")
    if len(names) > 1 and (any(not part for part in names) or len(set(names)) != len(names)):
        raise OptionError(f'analyzer "{name}": expected distinct names joined by "+"')
    return names


class Combined:
    """The per-hop sum of several analyzers' scores, as soon as every part has given it."""

    def __init__(self, parts: Mapping[str, Any], scores: Scores, counted: Counted) -> None:
        hops = {name: float(part.hop) for name, part in parts.items()}
        first = next(iter(hops.values()))  # the same within float32's precision (hop=np.float32)
        if any(not math.isclose(hop, first, rel_tol=1e-6) for hop in hops.values()):
            listed = ", ".join(f"{name} {hop:g} s" for name, hop in hops.items())
            raise OptionError(f"analyzers combined with + need the same hop ({listed})")
        self.parts = dict(parts)
        self._scores, self._counted = scores, counted
        self.hop = first
        self.version = "+".join(str(getattr(p, "version", "")) for p in self.parts.values())
        self._pending = {name: np.zeros(0, dtype=np.float64) for name in self.parts}
        self._given = dict.fromkeys(self.parts, 0)  # values each part gave
        self._samples = self._rate = 0

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        """The summed scores of the hops every part has completed."""
        self._samples, self._rate = self._samples + len(chunk.samples), chunk.sample_rate
        for name, part in self.parts.items():
            self._add(name, self._scores(name, part.feed, chunk))
        return self._take()

    def finish(self) -> np.ndarray:
        """The rest; hops only some parts gave (a different count at the end) are dropped.
        A part that gave another number of values than one per hop begun is named."""
        for name, part in self.parts.items():
            finish = getattr(part, "finish", None)
            if finish is not None:
                self._add(name, self._scores(name, finish))
            self._counted(name, self._given[name], self._samples, self._rate, self.hop)
        return self._take()

    def _add(self, name: str, scores: np.ndarray) -> None:
        self._given[name] += len(scores)
        self._pending[name] = np.concatenate([self._pending[name],
                                              np.asarray(scores, dtype=np.float64)])

    def _take(self) -> np.ndarray:
        ready = min(len(values) for values in self._pending.values())
        total = np.zeros(ready, dtype=np.float64)
        for name, values in self._pending.items():
            total += values[:ready]
            self._pending[name] = values[ready:]
        return total.astype(np.float32)
