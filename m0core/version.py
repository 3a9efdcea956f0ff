"""m0's version (``m0core.__version__``): the one place it is written; pyproject.toml reads
it from here when the distribution is built."""

__version__ = "0.4.0"
