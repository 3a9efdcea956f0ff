"""Every hook has a section in the plugin author guide and a test (as datasette requires)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_m0

from m0core import hookspecs

ROOT = Path(__file__).parent.parent
HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("m0_"))


def test_there_are_hooks():
    assert {"m0_register_sources", "m0_register_analyzers", "m0_register_selectors",
            "m0_register_encoders"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook):
    guide = "\n".join(p.read_text() for p in sorted((ROOT / "docs" / "plugins").glob("*.md")))
    headings = re.findall(r"^#+ .*$", guide, flags=re.MULTILINE)
    assert any(re.search(rf"\b{hook}\b", h) for h in headings), \
        f"no section for {hook} in docs/plugins/*.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_have_tests(hook):
    tests = [p for p in (ROOT / "tests").rglob("test_*.py") if p.name != Path(__file__).name]
    assert any(re.search(rf"def {hook}\b", p.read_text()) for p in tests), \
        f"no test implements {hook}"


def test_the_readme_documents_the_exit_codes_the_cli_gives(tmp_path):
    paragraphs = (ROOT / "README.md").read_text().split("\n\n")
    said = next(p for p in paragraphs if p.startswith("Exit codes"))
    # 130: tests/test_batch.py; 141: tests/test_cli.py
    assert re.findall(r"`(\d+)`", said) == ["0", "1", "2", "130", "141"]
    assert run_m0("--version").returncode == 0
    assert run_m0("probe", str(tmp_path / "missing.mp4")).returncode == 1
    assert run_m0("analyze", "--no-such-option", "x.mp4").returncode == 2


def test_every_public_name_the_docs_give_is_exported():
    """``m0core.AudioTrack`` and the like, as the docs write them, resolve and are public."""
    import m0core

    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    named = {name for p in docs for name in re.findall(r"\bm0core\.([A-Z]\w*)", p.read_text())}
    assert "AudioTrack" in named
    missing = sorted(name for name in named if name not in m0core.__all__)
    assert not missing, f"the docs name m0core.{missing[0]}, which m0core does not export"
    assert all(getattr(m0core, name) is not None for name in named)


def test_the_guides_contract_check_works_after_a_bare_import_m0core():
    """docs/plugins/README.md checks a stage with ``isinstance(obj, m0core.contracts.Analyzer)``:
    in a fresh interpreter, after ``import m0core`` alone, that raised AttributeError (no
    ``import m0core.contracts`` had run). The submodule is imported on first use: ``import
    m0core`` still imports neither it nor numpy (``m0 --version``'s start-up)."""
    import subprocess
    import sys

    guide = (ROOT / "docs" / "plugins" / "README.md").read_text()
    check = re.search(r"`(isinstance\(obj, m0core\.contracts\.\w+\))`", guide)
    assert check, "the guide no longer shows how to check a stage"
    code = ("import sys\nimport m0core\n"
            "eager = sorted({'m0core.contracts', 'numpy'} & set(sys.modules))\n"
            "class Flux:\n    hop = 0.1\n    def feed(self, chunk):\n        return []\n"
            f"obj = Flux()\nprint(eager, {check.group(1)}, 'contracts' in dir(m0core))\n"
            "obj = object()\n"
            f"print({check.group(1)})\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.splitlines() == ["[] True True", "False"], run.stderr


def _helps() -> dict[str, str]:
    """Every ``m0`` command's ``--help`` text, by its name (``cache info`` for a subcommand)."""
    import click

    from m0core.cli.group import cli

    found: dict[str, str] = {}

    def walk(command: click.Command, parent: click.Context | None, name: str) -> None:
        ctx = click.Context(command, info_name=name, parent=parent)
        found[name] = command.get_help(ctx)
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, ctx, sub_name if parent is None else f"{name} {sub_name}")

    walk(cli, None, "m0")
    return found


def test_what_only_a_help_said_is_in_the_readme_and_helps_name_seconds_alike():
    """``M0_CACHE_DIR`` was documented in ``m0 cache --help`` alone and ``--max-chapters`` in
    ``m0 chapters --help`` alone; ``m0 demo --help`` showed ``--duration FLOAT RANGE`` where
    the other commands say ``SECONDS``, and ``m0 gui --help`` ``--host TEXT`` where ``m0
    batch`` says ``--scheduler ADDRESS``. Every ``M0_`` variable a help names, and every option
    of ``m0 chapters`` the other commands lack, is in README or docs/ (``--max-chapters`` in
    README); no help shows a click type's name in place of what a value is."""
    readme = (ROOT / "README.md").read_text()
    docs = readme + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    helps = _helps()
    for name, text in helps.items():
        for variable in re.findall(r"\bM0_[A-Z_]+", text):
            assert variable in readme, f"{variable} (m0 {name} --help) is not in README"
        assert not re.search(r"\b(FLOAT|INTEGER|TEXT)( RANGE)?\b", text), f"m0 {name}: {text}"
    others = set(re.findall(r"--[a-z-]+", helps["analyze"] + helps["batch"]))
    for option in set(re.findall(r"--[a-z-]+", helps["chapters"])) - others:
        assert f"`{option}" in docs, f"{option} (m0 chapters --help) is not in README or docs"
    assert "`--max-chapters" in readme


def test_help_examples_run_on_a_plain_install_and_the_docs_say_what_needs_the_timeline_extra():
    """``m0 analyze --help``'s example was ``-f edl -f csv``: on what ``pip install .`` gives
    (README's first command) it ended ``format "edl" needs OpenTimelineIO``, and neither README
    nor the help said that ``edl``, ``otio`` and ``fcpxml`` need ``m0-clipper[timeline]``. No
    help's example asks for those formats; README and ``-f``'s help name the extra."""
    from m0_plugins.writers.timelines import FORMATS

    helps = _helps()
    for name, text in helps.items():
        example = text.split("Example:")[-1]
        asked = re.findall(r"(?:-f|--format)[ =](\w+)", example)
        assert not set(asked) & set(FORMATS), f"m0 {name}'s example needs the timeline extra"
    assert re.findall(r"(?:-f|--format)[ =](\w+)", helps["analyze"].split("Example:")[-1])
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `-f/--format"))
    review = next(p for p in readme.split("\n\n") if "`-f edl`" in p)
    for said in (row, review, " ".join(helps["analyze"].split())):
        assert "m0-clipper[timeline]" in said, said
        assert all(fmt in said for fmt in FORMATS), said


def test_the_docs_option_tables_name_each_value_as_the_helps_do():
    """README's table said ``-l/--clip-length S``, ``--min-gap S`` and ``--fade S`` where
    ``m0 analyze --help`` says ``SECONDS``, docs/gui.md ``--root DIR`` and ``--port N`` where
    ``m0 gui --help`` says ``DIRECTORY`` and ``PORT``: an option a table of README or docs/
    gives with a value (``--max-clips N``) is shown with that value by a help."""
    shown = {(option, value) for text in _helps().values()
             for option, value in re.findall(r"(--[a-z-]+)[ =]([A-Z][A-Z.|=:_a-z]*)\b", text)}
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    rows = [(p.name, m) for p in docs
            for m in re.findall(r"^\| `(?:-\w/)?(--[a-z-]+) ([A-Z][^`]*)`", p.read_text(),
                                flags=re.MULTILINE)]
    assert ("README.md", ("--max-clips", "N")) in rows
    assert ("gui.md", ("--max-upload", "SIZE")) in rows
    wrong = [f"{name}: {option} {value}" for name, (option, value) in rows
             if (option, value.replace("\\|", "|")) not in shown]
    assert not wrong, f"the helps name these values otherwise: {wrong}"


@pytest.mark.parametrize("command", ["analyze", "batch", "chapters", "reference", "probe"])
def test_the_helps_name_every_built_in_stage_an_option_picks(command):
    """``--selector`` and ``--source`` listed their built-in choices in ``m0 analyze --help``,
    ``--analyzer`` none (``Analyzer plugin``): ``loudness``, ``onset`` and how to combine
    them were in README alone. Each stage option lists m0's own names for it."""
    from m0core import plugins

    builtin = {info.name for info in plugins.plugin_infos() if info.builtin}
    help_of = {option: " ".join(text.split()) for option, text in re.findall(
        r"^\s+(?:-\w, )?(--[a-z]+) NAME\s+(.*?)(?=^\s+-)", _helps()[command],
        flags=re.MULTILINE | re.DOTALL)}
    assert "--source" in help_of and ("--analyzer" in help_of or command == "probe")
    for option, kind in (("--analyzer", "analyzers"), ("--selector", "selectors"),
                         ("--source", "sources")):
        if option not in help_of:
            continue
        names = {name for name, reg in plugins.registries()[kind].items()
                 if reg.plugin in builtin and name != "rms-legacy"}  # that is --no-streaming
        missing = sorted(name for name in names
                         if not re.search(rf"(?<![\w-]){name}(?![\w-])", help_of[option]))
        assert not missing, f"m0 {command} {option}: {help_of[option]} (lacks {missing})"
    assert command == "probe" or "+" in help_of["--analyzer"]  # a+b combines analyzers


def test_m0_help_lists_every_command_in_a_whole_sentence_on_an_80_column_terminal():
    """``m0 --help``'s list of commands cut six of nine summaries short on an 80-column
    terminal ('analyze  Find the highlights of VIDEO and cut a clip around each into...',
    'probe  List VIDEO's duration and audio tracks: number (for...'), and three at any width:
    each command says what it does in a sentence that fits."""
    import os

    from m0core.cli.group import cli

    run = run_m0("--help", env={**os.environ, "COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    listed = run.stdout.split("Commands:")[1].strip().splitlines()
    assert [line.split()[0] for line in listed] == sorted(cli.commands)
    for line in listed:
        assert len(line) <= 80 and line.endswith(".") and not line.endswith("..."), line


def test_a_command_says_where_an_argument_left_out_goes():
    """``m0 demo --help`` showed ``[OUT_DIR]`` and never said that without it the sample and
    its highlights go to ./m0-demo (README's first command, ``m0 demo``, writes there), and
    its example, ``m0 demo ./m0-demo``, was that default. Every optional argument's default is
    in its command's help, as ``m0 analyze``'s OUT_DIR's is."""
    import click

    from m0core.cli.group import cli

    helps = {name: " ".join(text.split()) for name, text in _helps().items()}
    optional = [(name, param) for name, command in cli.commands.items()
                for param in command.params
                if isinstance(param, click.Argument) and not param.required and param.nargs == 1]
    assert {name for name, _ in optional} >= {"analyze", "demo"}
    for name, param in optional:
        said = re.search(rf"{param.human_readable_name} defaults to ([^ ]+)", helps[name])
        assert said, f"m0 {name} --help does not say where {param.human_readable_name} goes"
        if isinstance(param.default, str):  # not click's no default
            assert said.group(1).strip(".,;") == param.default, said.group(0)
            example = helps[name].split("Example:")[-1]
            assert f" {param.default} " not in f" {example} ".replace("./", ""), example


def test_m0_batch_usage_allows_the_command_lines_without_a_pattern_the_docs_give():
    """README and docs/batch.md give ``m0 batch --status out/`` and ``m0 batch --from-file
    list.txt out/``, but ``m0 batch --help``'s usage line read ``PATTERN... OUT_DIR``, a
    PATTERN required, and its text did not say when there is none. The usage reads
    ``[PATTERN]... OUT_DIR``, and the text says that --from-file and --status need none."""
    docs = (ROOT / "README.md").read_text() + (ROOT / "docs" / "batch.md").read_text()
    assert re.search(r"m0 batch --status \S+/", docs) and re.search(r"m0 batch --from-file", docs)
    text = _helps()["batch"]
    assert text.splitlines()[0].endswith(" [PATTERN]... OUT_DIR"), text.splitlines()[0]
    described = " ".join(text.split("Options:")[0].split())
    assert "--from-file" in described and "--status" in described, described


def _keys(value: object) -> set[str]:
    """Every key of the dicts in the JSON ``value``, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_every_field_of_the_small_commands_json_is_documented(wav):
    """``m0 probe --json``, ``m0 cache info --json`` and ``m0 plugins --json`` printed fields
    (``audio_tracks``, ``entries``, ``registers``, ...) that no page named, and docs/outputs.md
    left ``path`` out of ``m0 reference --json``'s. Each field is in README or docs/."""
    import json

    docs = (ROOT / "README.md").read_text() + "".join(
        p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    for args in (["probe", str(wav)], ["cache", "info"], ["plugins", "--all"],
                 ["reference", str(wav)]):
        run = run_m0(*args, "--json")
        assert run.returncode == 0, run.stderr
        missing = {k for k in _keys(json.loads(run.stdout)) if f"`{k}`" not in docs}
        assert not missing, f"m0 {' '.join(args[:2])} --json: {sorted(missing)} not in the docs"
