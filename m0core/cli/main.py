"""The entry point of the ``m0`` command (also installed as ``highlighter``, the seed's name).

Known errors become one red line and exit code 1; usage errors exit 2; a traceback shows
only with ``M0_DEBUG=1``. This module imports nothing but the standard library's basics and
:mod:`m0core.stops`: the command group (:mod:`m0core.cli.group`, click and every command) is
imported by :func:`main`, where Ctrl-C is one line and exit code 130 however early it comes.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from m0core import stops

if TYPE_CHECKING:
    import click


def _terminate(signum: int, frame: Any) -> None:
    """Stop the command as Ctrl-C does: raise :class:`KeyboardInterrupt`, but not where it
    would break Python's own works (:func:`m0core.stops.unsafe`): there it is tried again a
    moment later."""
    if signum == getattr(signal, "SIGHUP", None):  # the terminal may be gone
        _leave_hung_up_terminal()
    if stops.put_off(signum, frame, _terminate):
        return
    raise KeyboardInterrupt


def _leave_hung_up_terminal() -> None:
    """Point stdout and stderr at the null device where they are a terminal that hung up (its
    window closed, the SSH connection dropped): every write to one fails (EIO), and the first
    (a progress bar's last line, the ``interrupted`` line) turned the stop into that error,
    exit code 1 instead of 130. Nobody is left to read them; a stream into a file or a pipe,
    or a terminal still there (``kill -HUP``), is kept."""
    import termios

    for fd in (1, 2):
        try:
            termios.tcgetattr(fd)
        except termios.error as exc:
            if exc.args[0] == errno.EIO:  # else ENOTTY (a file, a pipe) or EBADF (closed)
                stops.to_null(fd)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``m0`` and ``highlighter`` commands.

    SIGTERM and SIGHUP (a closed terminal) stop a command as Ctrl-C does: its ffmpeg and
    worker processes are stopped, what it was writing is removed, and it exits with code 130
    (a SIGHUP ignored by ``nohup`` stays ignored). So does Ctrl-C while m0 starts (its
    modules being imported).
    """
    if argv is None:
        _read_names_as_utf8()
    _stop_as_ctrl_c()
    _open_closed_streams()
    try:
        try:
            _run(argv)
        except KeyboardInterrupt:  # before the command ran: while its modules were imported
            from m0core.cli.console import error

            error("interrupted")
            sys.exit(130)
    except SystemExit as end:
        try:
            blocked = _block_stops()
        except KeyboardInterrupt:  # a stop as the command ended: the command's code stands
            blocked = _block_stops()
        if blocked:
            _end_despite_threads(end.code)
        raise


def _stop_as_ctrl_c() -> None:
    """Have Ctrl-C, SIGTERM and SIGHUP stop the command (:func:`_terminate`), from m0's first
    line on (an ignored one stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _terminate)
    for signum in stops.STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _terminate)


def _block_stops() -> bool:
    """Block and ignore Ctrl-C, SIGTERM and SIGHUP from the command's end on (in the main
    thread; returns whether this is it): Python's finalization puts back the default action of
    a signal it handles for the 0.05-0.3 s it takes to tear its modules down, and one that came
    then killed m0 (exit code -2 or -15, nothing said) after its work was done and its end
    said — blocked in the main thread, it went to any other thread still there (a daemon
    thread, a plugin's), so it is ignored too (Python leaves an ignored signal ignored). m0
    exits with the command's code. So does a stop put off (:func:`_terminate`) that the
    command's end came before: its retry, left armed, killed m0 by SIGALRM (exit code -14).
    A stop that comes as this starts (or that came just before: Python runs a pending
    handler before it changes one) raises :class:`KeyboardInterrupt` here: the caller calls
    it again."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if hasattr(signal, "pthread_sigmask"):
        held = set(stops.HELD)  # the stops, and SIGALRM: a retry of one put off
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        signal.setitimer(signal.ITIMER_REAL, 0)
        handled = (signum for signum in held
                   if signal.getsignal(signum) not in (signal.SIG_IGN, signal.SIG_DFL, None))
        stops.ignore(tuple(handled))
    return True


def _read_names_as_utf8() -> None:
    """Run the command again in Python's UTF-8 mode where Python reads file names in another
    encoding (``PYTHONUTF8=0`` in the C locale: ASCII): there ``vidéo ライブ.mp4``, UTF-8 on
    disk, came as escaped bytes that m0's caches, ledger and records cannot hold, and
    :func:`m0core.media.ffmpeg.check_name` refused it. The workers inherit the mode; a name
    that is not UTF-8 is still refused."""
    if (sys.getfilesystemencoding() != "utf-8" and os.environ.get("PYTHONUTF8") != "1"
            and getattr(sys, "orig_argv", None)):
        os.environ["PYTHONUTF8"] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def _open_closed_streams() -> None:
    """Open the null device on a standard stream the caller closed (``m0 analyze … >&-``, a
    daemon's): Python gives such a stream as ``None``, which m0 met with an AttributeError
    before doing any work, and the first file m0 opened would take its number for the
    processes it starts to write into. What m0 prints there is dropped, as a caller who
    closed it wants."""
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            stops.to_null(fd)
            os.set_inheritable(fd, True)  # as a standard stream is: the workers' too
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w" if fd else "r", closefd=False,  # noqa: SIM115
                                    errors="replace"))


def _end_despite_threads(code: Any) -> None:
    """End the process now if threads a plugin left still run, naming them in one line
    (:func:`m0core.workers.end_despite_threads`)."""
    from m0core import workers

    def tell(left: list[str]) -> None:
        from m0core.cli.console import warn

        many = len(left) > 1
        warn(f"thread{'s' * many} {', '.join(left)} {'are' if many else 'is'} still running "
             f"(a plugin's?): m0 ends without waiting for {'them' if many else 'it'}")

    workers.end_despite_threads(code, tell)


def _run(argv: list[str] | None) -> None:
    """Import the command group and run the command, its errors turned into a line and an
    exit code."""
    from m0core import workers

    # m0's process hands numpy no matrix work worth a thread pool (its workers run in
    # parallel as processes), and starting OpenBLAS's costs about 0.05 s of CPU
    for name, value in workers.SINGLE_THREADED.items():
        os.environ.setdefault(name, value)
    import click

    from m0core.cli.console import error
    from m0core.cli.group import ReaderGone, cli
    from m0core.errors import Interrupted, M0Error, debug

    # click 8.2 and later raise this usage error for a group given no command (8.1 prints
    # the help and exits 0): its message is the group's help, shown as it is
    no_args_is_help = getattr(click.exceptions, "NoArgsIsHelpError", ())
    try:
        code = cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort as exc:  # click's for a KeyboardInterrupt, its cause
        error(str(exc.__cause__) if isinstance(exc.__cause__, Interrupted) else "interrupted")
        sys.exit(130)
    except ReaderGone:  # as a Unix tool its reader left ends, killed by SIGPIPE: unsaid
        sys.exit(stops.drop_output())
    except no_args_is_help as exc:  # "m0" or "m0 cache" alone: their help, not an error
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        error(str(exc) if isinstance(exc, Interrupted) else "interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        hint = _dashed_file(argv) + _before_the_command(exc) \
            if isinstance(exc, click.NoSuchOption) else ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint += _one_video(exc) + f" (see '{exc.ctx.command_path} --help')"
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


def _dashed_file(argv: list[str] | None) -> str:
    """What to say of an argument click took for an unknown option that is a file (the
    shell's ``*.mp4`` gave ``-dash.mp4``), if one is."""
    for arg in sys.argv[1:] if argv is None else argv:
        if arg.startswith("-") and arg != "-" and os.path.exists(arg):
            return f" ({arg} is a file: write ./{arg}, or put -- before the files)"
    return ""


def _one_video(exc: click.UsageError) -> str:
    """What to say of an argument too many given to a command that takes one VIDEO, as an
    unquoted shell pattern (``m0 probe *.wav``) gives when it matches several files."""
    ctx = exc.ctx
    if ctx is None or not exc.message.startswith("Got unexpected extra argument") or not any(
            p.name == "video" for p in ctx.command.params):
        return ""
    batch = "; m0 batch \"PATTERN\" OUT_DIR analyses several" if ctx.info_name == "analyze" \
        else ""
    return (f": {ctx.command_path} takes one VIDEO at a time, and an unquoted pattern "
            f"(*.wav) gives it every file it matches{batch}")


def _before_the_command(exc: click.NoSuchOption) -> str:
    """What to say of an option of ``m0`` itself (``--disable-plugin``) given after the
    command, where the command has no such option."""
    from m0core.cli.group import cli

    param = next((p for p in cli.params if exc.option_name in p.opts), None)
    if param is None or exc.ctx is None or exc.ctx.parent is None:
        return ""
    if getattr(param, "is_flag", False):
        return f" ({exc.option_name} is m0's own option: m0 {exc.option_name})"
    names, ctx = [], exc.ctx
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return (f" ({exc.option_name} is m0's own option: it goes before the command, "
            f"m0 {exc.option_name} {param.metavar} {' '.join(reversed(names))} ...)")
