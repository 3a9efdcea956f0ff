"""Selectors ``standout`` (the default), ``adaptive``, ``crest`` (the seed's rule) and ``top``.

Each is imported when a run builds it (:func:`m0core.plugins.deferred`); the names below are
imported on first use."""

from typing import TYPE_CHECKING

from m0core import hookimpl
from m0core.lazy import loader
from m0core.plugins import deferred

if TYPE_CHECKING:
    from .adaptive import Adaptive, threshold_line
    from .crest import Crest
    from .standout import Standout
    from .top import Top

_LAZY = {"Adaptive": f"{__name__}.adaptive", "threshold_line": f"{__name__}.adaptive",
         "Crest": f"{__name__}.crest", "Standout": f"{__name__}.standout",
         "Top": f"{__name__}.top"}


@hookimpl
def m0_register_selectors(register):
    """Register the built-in selectors."""
    register("adaptive", deferred(f"{__name__}.adaptive:Adaptive"))
    register("crest", deferred(f"{__name__}.crest:Crest"))
    register("top", deferred(f"{__name__}.top:Top"))
    register("standout", deferred(f"{__name__}.standout:Standout"))


__all__ = ["Adaptive", "Crest", "Standout", "Top", "threshold_line"]
__getattr__ = loader(__name__, _LAZY, globals())
