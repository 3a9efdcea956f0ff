"""The shape of the code: imports run one way, and the contracts in the docs are the code's.

The import graph is read from the source (every ``import`` statement, those inside functions
and ``if TYPE_CHECKING:`` blocks included): a lazy import that only dodges a cycle is still a
cycle here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from m0core import contracts

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("m0core", "m0_plugins")


def modules() -> dict[str, Path]:
    """Every module of m0's two packages by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    return {t for t in targets if t in known and t != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_reader_sees_function_level_and_relative_imports():
    edges = graph()
    assert "m0core.pipeline.cache" in edges["m0core.cli.tools"]  # inside a command function
    assert "m0_plugins.selectors.spacing" in edges["m0_plugins.selectors.adaptive"]  # relative
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_core_never_imports_a_builtin_plugin():
    wrong = sorted(f"{a} -> {b}" for a, targets in graph().items() if a.startswith("m0core")
                   for b in targets if b.startswith("m0_plugins"))
    assert not wrong, wrong


def test_the_author_guide_states_the_contracts_the_code_defines():
    guide = (ROOT / "docs" / "plugins" / "README.md").read_text()
    assert contracts.contract_table() in guide, (
        "docs/plugins/README.md's contract table differs from m0core/contracts.py; paste "
        "python -c 'from m0core import contracts; print(contracts.contract_table())'")


@pytest.mark.parametrize("stage, name", [
    ("source", "pyav"), ("source", "ffmpeg"), ("source", "soundfile"),
    ("analyzer", "rms-streaming"), ("analyzer", "rms-legacy"), ("analyzer", "loudness"),
    ("analyzer", "onset"),
])
def test_builtin_stages_fit_their_protocol(stage, name):
    from m0core import plugins

    built = plugins.create(f"{stage}s", name)
    assert isinstance(built, contracts.PROTOCOLS[stage])
    for member in contracts.OPTIONAL[stage]:  # optional members, where present, are right
        value = getattr(built, member, None)
        if member == "finish":
            assert value is None or callable(value)
        elif member == "version":
            assert value is None or isinstance(value, str)
        elif member == "exact_seek":
            assert value is None or isinstance(value, bool)


def test_builtin_selectors_and_writers_fit_their_protocol():
    from m0core import plugins
    from m0core.model import Line, Timeline

    for name in plugins.registries()["selectors"]:
        built = plugins.create("selectors", name, timeline=Timeline(hop=0.1), threshold=None)
        assert isinstance(built, contracts.Selector), name
        built.feed(np.full(50, -30.0))
        built.finish()
        report = contracts.optional("selector", built, "line")
        line = report() if report is not None else None
        assert line is None or isinstance(line, Line) and len(line.values) >= 1, name
    for name in plugins.registries()["writers"]:
        assert isinstance(plugins.create("writers", name), contracts.Writer), name


def test_a_stage_missing_a_required_member_does_not_fit():
    class NoFeed:
        hop = 0.1

    assert not isinstance(NoFeed(), contracts.Analyzer)
    assert contracts.required("analyzer") == ["hop", "feed"]
    assert contracts.required("selector") == ["feed", "finish"]
