"""m0's version, from the installed distribution's metadata (``m0core.__version__``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("m0-clipper")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
