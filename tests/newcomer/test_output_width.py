"""No command splits a number or a name, at 60, 80 and 120 columns, piped and on a terminal.

Each command's output at a width is split into tokens (runs between spaces and table rules); every
token must be one the same command prints whole: in its table form (drawn at 400 columns) or its
stacked form (forced at 20 columns). A cell folded to fit (``3276`` / ``8``, ``tab`` / ``les``,
``joint_adag`` / ``rad_in_bac``) gives fragments found in neither. ``--help`` of every registered
command and subcommand is included, so a command added later is covered by the test as it is.
"""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from dlrmbench.cli import make_cli
from tests.conftest import REPO

WIDTHS = (60, 80, 120)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SEPARATORS = re.compile(r"[\s│┃┏┓┗┛━─┡┩╇┳┻╋┯┷┼├┤┌┐└┘╭╮╰╯═║╔╗╚╝╠╣╦╩╬…]+")

SHIPPED = sorted(p.stem for p in (REPO / "suites").glob("*.yaml"))
FIXTURES = REPO / "tests/fixtures/results"

OUTPUTS: list[tuple[str, ...]] = [
    ("suites",),
    ("list-plugins",),
    ("list-plugins", "--options", "adagrad"),
    ("validate", *SHIPPED),
    *[("run", name, "--dry-run") for name in SHIPPED],
    ("run", "dgx2", "--dry-run", "--scale-down"),
    ("plan", "dgxa100"),
    ("plan", "implementations"),
    ("compare", str(FIXTURES)),
    ("compare", str(FIXTURES / "criteo")),
    ("history", str(FIXTURES)),
    ("doctor",),
]

NO_OUTPUT_HERE = {
    "dataset": "dataset inspect needs a preprocessed dataset (its help is covered)",
    "export": "export needs a trained checkpoint or a suite case built in process (its help is covered)",
    "mlperf": "mlperf package needs MLPerf logs of 10 runs (its help is covered)",
    "preprocess": "preprocess starts Spark on Criteo files (its help is covered)",
    "report": "report writes HTML; its terminal output is one line (its help is covered)",
    "results": "results export writes a file; its terminal output is one line (its help is covered)",
    "serve-bench": "serve-bench needs an export (its help is covered)",
    "verify": "verify runs every combination in Triton's interpreter: minutes (its help is covered)",
}
"""Commands whose real output is not drawn here, and why: every other command's output is."""

EXIT_2 = {("run", "criteo-sample", "--dry-run"), ("run", "criteo-sample-bf16", "--dry-run")}
"""Outputs that end in a clear refusal (a suite that needs --dataset-path): still drawn, still whole."""


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every registered command path (``("results", "export")``, ...), groups included."""
    ctx = click.Context(group)
    found = [prefix] if prefix else []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found.extend(_commands(command, prefix + (name,)))
        else:
            found.append(prefix + (name,))
    return found


HELP = [(), *[(*path, "--help") for path in _commands(make_cli())]]


def _output(args: tuple[str, ...], width: int, terminal: bool) -> str:
    env = {"COLUMNS": str(width), "NO_COLOR": None, "FORCE_COLOR": None,
           "TTY_COMPATIBLE": "1" if terminal else "0", "TTY_INTERACTIVE": "0"}
    result = CliRunner().invoke(make_cli(), list(args), env=env, terminal_width=width)
    assert result.exit_code in (0, 1, 2), f"{args}: {result.exception!r}\n{result.output}"
    # the root without a command prints its help with click's usage status; doctor's status is its verdict
    assert result.exit_code == (2 if args in EXIT_2 or not args else 0) or args[:1] == ("doctor",), \
        f"{args} exited {result.exit_code}: its output is not the one drawn:\n{result.output}"
    return ANSI.sub("", result.output)


def _tokens(text: str) -> set[str]:
    """Tokens, without the ``...`` click puts after a one-line help cut at a word."""
    return {t.removesuffix("...") for t in SEPARATORS.split(text) if t.removesuffix("...")}


def _whole(args: tuple[str, ...]) -> set[str]:
    """The tokens the command prints whole: at 400 columns (its tables), and at 20 columns (its stacked form)
    but for the pieces of a 400-column token split there (``train-16gpu-large-am`` / ``p``: a name rich
    wrapped at 20 columns is no reference for the wider ones)."""
    wide = _tokens(_output(args, 400, False))
    narrow = _tokens(_output(args, 20, False)) - wide
    pieces = {part for w in wide for i in range(1, len(w)) if w[:i] in narrow and w[i:] in narrow
              for part in (w[:i], w[i:])}
    return wide | (narrow - pieces)


@pytest.fixture(autouse=True)
def _fixed_load(monkeypatch):
    """doctor's live figure (other processes' CPU) changes between the invocations compared here: a busy
    machine's 1.3 cores at one width and 0.9 at another is not a split. Fixed at a value that warns, so its
    longer lines are drawn too."""
    from dlrmbench.machine import checks

    busy = checks.Finding("other processes' CPU", "1.3 of 2 cores", "warn",
                          "other processes take cores and caches from the benchmark; runs measured now are marked "
                          "noisy and compare's verdicts leave them out",
                          "stop them, or run when the machine is idle (top shows which)", stable=False)
    monkeypatch.setattr(checks, "other_cpu", lambda interval_s=0.3: busy)


@pytest.mark.parametrize("args", OUTPUTS + HELP, ids=lambda a: " ".join(a) or "(root --help)")
def test_no_number_or_name_is_split(args):
    whole = _whole(args)
    for width in WIDTHS:
        for terminal in (False, True):
            out = _output(args, width, terminal)
            split = sorted(_tokens(out) - whole)
            assert not split, (f"{' '.join(args)} at {width} columns ({'terminal' if terminal else 'piped'}) "
                               f"splits {split[:8]}:\n{out}")
            if not terminal:  # a table is drawn only when it fits: no table line wider than the console
                ruled = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
                assert all(len(line.rstrip()) <= width for line in ruled), out


def test_every_command_is_covered():
    """Each registered command's help is in the test (a command added later is, as it is registered), and its
    real output too unless NO_OUTPUT_HERE says why not: a new command must be added to one or the other."""
    covered = {args[0] for args in OUTPUTS + HELP if args}
    commands = {path[0] for path in _commands(make_cli())}
    assert commands <= covered
    drawn = {args[0] for args in OUTPUTS}
    assert commands - drawn == set(NO_OUTPUT_HERE), sorted(commands - drawn - set(NO_OUTPUT_HERE))
    assert not drawn & set(NO_OUTPUT_HERE)


@pytest.mark.parametrize("width", (60, 80, 100, 120))
def test_live_progress_keeps_the_case_name_and_every_figure_whole(width):
    """A terminal's progress bar: at 100 columns rich cropped the step count to ``128/1…``."""
    import io

    from rich.console import Console

    from dlrmbench.report.progress import SuiteProgress

    console = Console(width=width, file=io.StringIO(), color_system=None)
    progress = SuiteProgress(console)
    progress.start_case("train-16gpu-large-amp (scaled down: not comparable)", 512)
    progress.progress.update(progress._task, total=12800, completed=12345, rate="1,234,567 samples/s",
                             note="AUC 0.7512")
    console.print(progress.progress.get_renderable())
    out = console.file.getvalue()
    assert "…" not in out, out
    for whole in ("train-16gpu-large-amp (scaled down: not comparable)", "12345/12800", "1,234,567 samples/s",
                  "AUC 0.7512", "0:00:00"):
        assert whole in out, (whole, out)
