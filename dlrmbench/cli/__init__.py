"""The ``dlrmbench`` command line: thin click commands that parse, call the core, and render.

Built by a factory so that nothing happens at import time; plugins add commands through the
``register_commands`` hook. ``--help``, ``list-plugins``, ``validate`` and ``compare`` never
import torch.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from dlrmbench import __version__
from dlrmbench.errors import UserError


class DlrmbenchGroup(click.Group):
    """A click group that turns :class:`UserError` into a clean message and exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


def _help_wraps_between_words() -> None:
    """Help text wraps only at spaces: click's wrapper would break ``<run-id>`` after the hyphen and cut a
    path longer than the width (a split name misreads); a long word overflows the line instead."""
    from click import _textwrap

    base = _textwrap.TextWrapper
    if getattr(base, "whole_words", False):
        return

    class WholeWords(base):  # type: ignore[misc, valid-type]
        whole_words = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.break_on_hyphens = False
            self.break_long_words = False

    _textwrap.TextWrapper = WholeWords  # type: ignore[misc]


def make_cli() -> click.Group:
    """Build the root command group with every built-in and plugin-provided command."""
    _help_wraps_between_words()

    @click.group(cls=DlrmbenchGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
    @click.version_option(__version__, "--version", prog_name="dlrmbench")
    def cli() -> None:
        """Benchmark DLRM training and inference on your hardware and compare the results with
        NVIDIA's published DGX tables and with each other.

        \b
        Start with:
          dlrmbench run quickstart                 a small DLRM on the CPU, in about a minute
          dlrmbench suites                         the shipped suites, runnable by name
          dlrmbench list-plugins                   what can run on this machine, and why not
          dlrmbench compare results/               all results side by side
        """

    from dlrmbench.cli.compare import compare_command
    from dlrmbench.cli.doctor import doctor_command
    from dlrmbench.cli.history import history_command
    from dlrmbench.cli.plugins import list_plugins_command
    from dlrmbench.cli.run import run_command
    from dlrmbench.cli.suites import suites_command
    from dlrmbench.cli.validate import validate_command

    for command in (run_command, validate_command, suites_command, list_plugins_command, compare_command,
                    doctor_command, history_command):
        cli.add_command(command)
    _plugin_commands(cli)
    return cli


def _plugin_commands(cli: click.Group) -> None:
    from dlrmbench.plugins import get_manager

    try:
        get_manager().hook.register_commands(cli=cli)
    except Exception as exc:  # a broken plugin must not take the CLI down
        click.echo(f"Warning: a plugin failed to add its commands: {exc}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli = make_cli()
    try:
        cli.main(args=argv, prog_name="dlrmbench")
    except KeyboardInterrupt as exc:  # SIGTERM/SIGHUP arrive as a KeyboardInterrupt carrying their code
        click.echo("Interrupted.", err=True)
        sys.exit(getattr(exc, "exit_code", 130))
