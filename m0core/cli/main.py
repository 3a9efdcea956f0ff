"""The ``m0`` command (also installed as ``highlighter``, the seed's name): the group, its
commands (each in a module of this folder) and the entry point.

The CLI is thin: it parses options into :class:`~m0core.options.Options` and calls the same
functions the Python API offers. Known errors become one red line and exit code 1; usage
errors exit 2; a traceback shows only with ``M0_DEBUG=1``. Modules import what a command
needs when it runs, so ``m0 --version`` and ``--help`` start fast.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import click

from m0core import workers
from m0core.cli import tools
from m0core.cli.analyze import analyze
from m0core.cli.batch import batch
from m0core.cli.console import error
from m0core.cli.gui.command import gui
from m0core.cli.options import CONTEXT
from m0core.errors import Interrupted, M0Error, debug
from m0core.version import __version__


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="m0",
                      message="%(prog)s, version %(version)s")
@click.option("--disable-plugin", "disabled", multiple=True, metavar="NAME",
              help="Do not load this third-party plugin (repeatable; see 'm0 plugins').")
def cli(disabled: tuple[str, ...]) -> None:
    """m0 finds the highlight moments of long recordings from their audio and cuts a clip
    around each with ffmpeg.

    \b
    Start with:  m0 demo
    Then:        m0 analyze vod.mp4 out/
    Safe mode:   M0_LOAD_PLUGINS='' m0 analyze vod.mp4 out/   (built-in plugins only)
    """
    if disabled:
        from m0core import plugins

        for name in disabled:
            plugins.block(name)


# click 8.2 and later raise this usage error for a group given no command (8.1 prints the
# help and exits 0): its message is the group's help, shown as it is
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``m0`` and ``highlighter`` commands.

    SIGTERM and SIGHUP (a closed terminal) stop a command as Ctrl-C does: its ffmpeg and
    worker processes are stopped, what it was writing is removed, and it exits with code 130
    (a SIGHUP ignored by ``nohup`` stays ignored).
    """
    if threading.current_thread() is threading.main_thread():
        for signum in workers.STOP_SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, _terminate)
    # m0's process hands numpy no matrix work worth a thread pool (its workers run in
    # parallel as processes), and starting OpenBLAS's costs about 0.05 s of CPU
    for name, value in workers.SINGLE_THREADED.items():
        os.environ.setdefault(name, value)
    try:
        code = cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort as exc:  # click's for a KeyboardInterrupt, its cause
        error(str(exc.__cause__) if isinstance(exc.__cause__, Interrupted) else "interrupted")
        sys.exit(130)
    except _NO_ARGS_IS_HELP as exc:  # "m0" or "m0 cache" alone: their help, not an error
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        error(str(exc) if isinstance(exc, Interrupted) else "interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        error(exc.format_message() + hint)
        sys.exit(exc.exit_code)
    except M0Error as exc:
        if debug():
            raise
        error(str(exc))
        sys.exit(1)
    except Exception as exc:
        if debug():
            raise
        error(f"unexpected {type(exc).__name__}: {exc} (M0_DEBUG=1 shows the traceback)")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


for _command in (analyze, batch, tools.plugins_command, tools.demo, tools.cache_group,
                 tools.chapters, tools.reference, tools.probe, gui):
    cli.add_command(_command)
