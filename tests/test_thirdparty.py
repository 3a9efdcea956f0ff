"""Real third-party plugin packages, pip-installed, discovered through their entry points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from conftest import run_m0

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "m0-brightness"


def pip(python: str | Path, *args: str) -> None:
    """``python -m pip ARGS``; an install is offline, with what its build needs at hand."""
    offline = ["--no-build-isolation", "--no-deps", "--no-index"] if args[0] == "install" else []
    subprocess.run([str(python), "-m", "pip", *args, "--quiet", *offline],
                   check=True, capture_output=True, text=True)

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "m0-window"
version = "0.7.0"

[project.entry-points.m0]
window = "m0_window"
"""

# An analyzer whose scores are loud only between 20 s and 21 s, whatever the audio says:
# if the selector follows these scores, there is exactly one highlight, at 20.5 s.
MODULE = '''
import numpy as np
from m0core import hookimpl


class Window:
    hop = 0.1

    def __init__(self, at=20.0):
        self.at = float(at)
        self.done = 0

    def feed(self, chunk):
        end = int(chunk.end / self.hop)
        times = (np.arange(self.done, end) + 0.5) * self.hop
        self.done = end
        return np.where((times >= self.at) & (times < self.at + 1), -5.0, -50.0)

    def finish(self):
        return np.zeros(0)


@hookimpl
def m0_register_analyzers(register):
    register("window", Window)
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    (root / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (root / "m0_window.py").write_text(MODULE)
    target = root / "site"
    pip(sys.executable, "install", "--target", str(target), str(root))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(target)
    return env


def test_listed_by_m0_plugins(installed):
    run = run_m0("plugins", env=installed)
    assert run.returncode == 0, run.stderr
    assert "window  (m0-window 0.7.0)" in run.stdout
    assert "analyzer:window" in run.stdout and "m0_register_analyzers" in run.stdout


def test_its_scores_drive_the_selector(installed, wav, tmp_path):
    run = run_m0("analyze", str(wav), str(tmp_path), "--analyzer", "window", "--no-clips",
                 "--json", env=installed)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["analyzer"]["name"] == "window"
    assert [h["peak_time"] for h in doc["highlights"]] == [pytest.approx(20.5, abs=0.5)]


def test_its_parameters_come_from_the_command_line(installed, wav, tmp_path):
    run = run_m0("analyze", str(wav), str(tmp_path), "--analyzer", "window", "--no-clips",
                 "--json", "-P", "analyzer.at=45", env=installed)
    doc = json.loads(run.stdout)
    assert doc["analyzer"]["params"] == {"at": 45}
    assert [h["peak_time"] for h in doc["highlights"]] == [pytest.approx(45.5, abs=0.5)]


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtualenv that sees this environment's packages (m0 among them) but installs
    into its own site-packages, so pip can install and uninstall there without touching ours."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    ours = sysconfig.get_paths()["purelib"]
    (Path(site.stdout.strip()) / "m0-test-parent.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n")
    return python


def test_example_plugin_install_use_uninstall(venv, wav, tmp_path):
    def m0(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv), "-m", "m0core", *args], capture_output=True,
                              text=True, timeout=120)

    assert "brightness" not in m0("plugins").stdout
    package = shutil.copytree(EXAMPLE, tmp_path / "m0-brightness")  # a build writes in it
    pip(venv, "install", str(package))

    listed = m0("plugins")
    assert listed.returncode == 0, listed.stderr
    assert "brightness  (m0-brightness 0.1.0)" in listed.stdout
    assert "registers: analyzer:brightness" in listed.stdout

    run = m0("analyze", str(wav), str(tmp_path / "out"), "--analyzer", "brightness",
             "--no-clips", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["analyzer"]["name"] == "brightness"
    assert (tmp_path / "out" / "highlights.json").exists()

    own_tests = subprocess.run([str(venv), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                               cwd=package, capture_output=True, text=True, timeout=300)
    assert own_tests.returncode == 0, own_tests.stdout + own_tests.stderr
    assert "5 passed" in own_tests.stdout

    pip(venv, "uninstall", "--yes", "m0-brightness")
    gone = m0("analyze", str(wav), str(tmp_path / "again"), "--analyzer", "brightness",
              "--no-clips")
    assert gone.returncode == 1
    assert 'unknown analyzer "brightness"' in gone.stderr
    assert "brightness" not in m0("plugins", "--all").stdout
    builtin = m0("analyze", str(wav), str(tmp_path / "builtin"), "--no-clips", "-q")
    assert builtin.returncode == 0 and builtin.stderr == ""
