"""A real third-party plugin package, pip-installed, discovered through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import run_m0

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
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
         "--no-index", "--target", str(target), str(root)],
        check=True, capture_output=True, text=True,
    )
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
