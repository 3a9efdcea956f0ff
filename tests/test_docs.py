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
    assert re.findall(r"`(\d+)`", said) == ["0", "1", "2", "130"]  # 130: tests/test_batch.py
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
