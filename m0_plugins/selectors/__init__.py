"""Selectors ``standout`` (the default), ``adaptive``, ``crest`` (the seed's rule) and ``top``."""

from m0core import hookimpl

from .adaptive import Adaptive, threshold_line
from .crest import Crest
from .standout import Standout
from .top import Top


@hookimpl
def m0_register_selectors(register):
    """Register the built-in selectors."""
    register("adaptive", Adaptive)
    register("crest", Crest)
    register("top", Top)
    register("standout", Standout)


__all__ = ["Adaptive", "Crest", "Standout", "Top", "threshold_line"]
