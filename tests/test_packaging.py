"""What ``pip install .`` and the source distribution give a user: built from this tree with
setuptools (the build backend pyproject.toml names), without the network."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
#: What the source distribution holds besides the packages: README's second command
#: (``pip install -e ".[test]" && pytest``) needs the whole of tests/, its links docs/.
SOURCE_FOLDERS = ("m0core", "m0_plugins", "tests", "docs", "benchmarks")
#: What tools leave in a working copy of those folders (.gitignore's), which no sdist holds.
LEFTOVERS = ("benchmarks/.media/vod-6h.mp4", "tests/.pytest_cache/v/cache/lastfailed",
             "tests/__pycache__/conftest.cpython-311.pyc",
             "docs/examples/m0-brightness/m0_brightness.egg-info/PKG-INFO",
             "docs/examples/m0-brightness/build/lib/m0_brightness.py")


def _project_files() -> list[str]:
    """The project's files, relative to its root: git's where this is a checkout, else (an
    unpacked source distribution) those on disk, less what Python and builds leave."""
    if (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                                check=True).stdout.decode().split("\0")
        return [name for name in listed if name and (ROOT / name).is_file()]
    skip = {"__pycache__", ".pytest_cache", ".ruff_cache", ".media", ".venv", "venv", "build",
            "dist"}
    found = (p.relative_to(ROOT) for p in ROOT.rglob("*") if p.is_file())
    return [p.as_posix() for p in found if p.suffix != ".pyc"
            and not any(part in skip or part.endswith(".egg-info") for part in p.parts)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str], str]:
    """The sdist's and the wheel's file names (below their top folder) and the wheel's
    entry_points.txt, built from a copy of the project's files."""
    base = tmp_path_factory.mktemp("build")
    source, dist = base / "source", base / "dist"
    for name in [*_project_files(), *LEFTOVERS]:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        if name in LEFTOVERS:
            (source / name).write_bytes(b"")
        else:
            shutil.copy2(ROOT / name, source / name)
    names = []
    for build in ("build_sdist", "build_wheel"):   # one process each, as pip and build do
        code = ("import sys\nfrom setuptools import build_meta\n"
                f"print(build_meta.{build}(sys.argv[1]))")
        run = subprocess.run([sys.executable, "-c", code, str(dist)], cwd=source,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        names.append(run.stdout.splitlines()[-1])
    sdist_name, wheel_name = names
    with tarfile.open(dist / sdist_name) as sdist:
        in_sdist = [m.name.split("/", 1)[1] for m in sdist.getmembers()
                    if m.isfile() and "/" in m.name]
    with zipfile.ZipFile(dist / wheel_name) as wheel:
        in_wheel = wheel.namelist()
        entry_points = next(wheel.read(n).decode() for n in in_wheel
                            if n.endswith(".dist-info/entry_points.txt"))
    return in_sdist, in_wheel, entry_points


def test_the_sdist_holds_the_tests_docs_and_benchmarks_it_was_made_from(built):
    """The sdist held tests/test_*.py alone (setuptools' default): no conftest.py, procs.py or
    tests/reliability/, so ``pytest`` in it failed at once (``No module named 'conftest'``), and
    none of the docs README links to. It holds every file of those folders."""
    in_sdist, _, _ = built
    expected = [name for name in _project_files()
                if name.split("/", 1)[0] in SOURCE_FOLDERS
                or name in ("README.md", "LICENSE", "pyproject.toml")]
    assert "tests/conftest.py" in expected and "docs/outputs.md" in expected
    missing = sorted(set(expected) - set(in_sdist))
    assert not missing, f"the sdist lacks {len(missing)} files, e.g. {missing[:5]}"
    left = sorted(set(LEFTOVERS) & set(in_sdist))
    assert not left, f"the sdist holds what tools left in the working copy: {left}"


def test_the_wheel_holds_every_file_of_the_packages_and_both_commands(built):
    """``pip install .`` gives the report's template, the GUI's page and the corpus list
    (every file of m0core/ and m0_plugins/, not only modules), the commands ``m0`` and
    ``highlighter`` (the v0.3 name), and m0core's ``py.typed``: without it mypy skipped m0core
    ('missing library stubs or py.typed marker'), so a plugin, docs/examples/m0-brightness too,
    could not be checked against the contracts m0core types."""
    _, in_wheel, entry_points = built
    expected = [n for n in _project_files() if n.split("/", 1)[0] in ("m0core", "m0_plugins")]
    assert {"m0_plugins/writers/report.html", "m0core/cli/gui/static/index.html",
            "m0core/dev/corpus-packages.txt", "m0core/py.typed"} <= set(expected)
    missing = sorted(set(expected) - set(in_wheel))
    assert not missing, f"the wheel lacks {missing}"
    assert not [n for n in in_wheel if n.startswith(("tests/", "docs/", "benchmarks/"))]
    scripts = entry_points.split("[console_scripts]")[1].split("[")[0]
    assert "m0 = m0core.cli.main:main" in scripts
    assert "highlighter = m0core.cli.main:main" in scripts
