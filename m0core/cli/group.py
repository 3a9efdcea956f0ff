"""The ``m0`` command's group and its commands (each in a module of this folder); the entry
point, :func:`m0core.cli.main.main`, imports it once Ctrl-C is handled.

The CLI is thin: it parses options into :class:`~m0core.options.Options` and calls the same
functions the Python API offers. Modules import what a command needs when it runs, so
``m0 --version`` and ``--help`` start fast.
"""

from __future__ import annotations

import click

from m0core.cli import tools
from m0core.cli.analyze import analyze
from m0core.cli.batch import batch
from m0core.cli.gui.command import gui
from m0core.cli.options import CONTEXT
from m0core.version import __version__


class ReaderGone(Exception):
    """The reader of m0's output went away (``m0 probe x.mp4 | head -1``): a write to the pipe
    failed (EPIPE). Not an :class:`OSError`, which click would end with code 1 unsaid."""


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise ReaderGone from exc


@click.group(cls=_Group, context_settings=CONTEXT)
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


for _command in (analyze, batch, tools.plugins_command, tools.demo, tools.cache_group,
                 tools.chapters, tools.reference, tools.probe, gui):
    cli.add_command(_command)
