"""Selectors ``adaptive`` (the default), ``crest`` (the seed's rule) and ``top``."""

from m0core import hookimpl

from .adaptive import Adaptive, threshold_line
from .crest import Crest
from .top import Top


@hookimpl
def m0_register_selectors(register):
    """Register the built-in selectors."""
    register("adaptive", Adaptive)
    register("crest", Crest)
    register("top", Top)


__all__ = ["Adaptive", "Crest", "Top", "threshold_line"]
