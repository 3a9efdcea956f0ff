"""The errors m0 raises on purpose. Each carries one line meant for a person.

The CLI prints ``Error: <message>`` and exits 1 for any :class:`M0Error`; anything else is a
bug and shows a traceback only with ``M0_DEBUG=1``.
"""


import os
import re

#: The control characters (a line break, a terminal's escape) that a name printed or written
#: into a one-line field must not carry as they are.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def escaped(text: str) -> str:
    """``text`` with its control characters escaped as Python writes them (``\\n``,
    ``\\x1b``), so that it is one line."""
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def shown_name(path: str | os.PathLike) -> str:
    """``path`` as m0's errors name it: a byte of a name that is not UTF-8 (a Latin-1
    ``caf\\xe9.mp4``, which Python holds as ``\\udce9``) as ``�``."""
    return os.fspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def beside_name(error: str | None, path: str | os.PathLike) -> str | None:
    """``error`` (a job's, a run's) as said beside the name of its file: without that file's
    path in front (``/home/me/Videos/a.mp4: file is empty`` → ``file is empty``), which would
    name the file a second time. The path is taken off as given or as an error writes it
    (:func:`escaped`, :func:`shown_name`); an error that does not begin with it is as it is."""
    if not error:
        return error
    for named in (os.fspath(path), escaped(shown_name(path))):
        if error.startswith(f"{named}: "):
            return error[len(named) + 2:]
    return error


def debug() -> bool:
    """Whether ``M0_DEBUG`` asks for tracebacks instead of one line."""
    return os.environ.get("M0_DEBUG", "") not in ("", "0")


class M0Error(Exception):
    """Base of every error m0 reports as one clear line: a control character its message
    holds (a file name's line break, as read from a list) is escaped."""

    def __str__(self) -> str:
        return escaped(super().__str__())


class InputError(M0Error):
    """The input file is missing, unreadable, not media, damaged or has no audio."""


class OutputError(M0Error):
    """The output folder cannot be created or written."""


class OptionError(M0Error):
    """An option has a value m0 cannot use."""


class PluginError(M0Error):
    """A plugin failed to load, registered a name twice, or failed while running."""


class EncodeError(M0Error):
    """ffmpeg could not cut a clip."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or a stop signal stopped a run; the message says what it left (the previous
    results it kept), for the CLI's ``Error:`` line in place of ``interrupted``."""
