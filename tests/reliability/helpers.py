"""What the reliability tests check again and again: a CLI run's one error line, an output
folder holding only complete files, a tmpfs mount for the full-disk and read-only cases, a
slow analyzer plugin."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from m0core.media.ffmpeg import probe
from m0core.outputs import TEMP_PREFIX

#: What the names of m0's temporary files hold (the write test's is one of them).
TEMP_MARKS = (TEMP_PREFIX,)
PROGRESS_LABELS = ("Analysing", "Cutting clips", "Writing outputs")  # a bar with no TTY

#: A plugin module (install it with the ``fake_dist`` fixture): the ``slow`` analyzer.
SLOW = '''
import os, time
import numpy as np
from m0core import hookimpl

class Slow:
    """RMS level per 0.1 s, M0_SLOW seconds per chunk; raises at chunk M0_FAIL_AT; makes the
    file M0_FED once it has taken a chunk."""
    hop = 0.1
    def __init__(self):
        self.chunks = 0
        self.rest = np.zeros(0, np.float32)
    def feed(self, chunk):
        self.chunks += 1
        if self.chunks == int(os.environ.get("M0_FAIL_AT", 0)):
            raise RuntimeError("sensor on fire")
        time.sleep(float(os.environ.get("M0_SLOW", 0)))
        if os.environ.get("M0_FED"):
            open(os.environ["M0_FED"], "a").close()
        x = np.concatenate([self.rest, chunk.samples])
        n = int(round(self.hop * chunk.sample_rate))
        k = len(x) // n
        self.rest = x[k * n:]
        w = x[:k * n].reshape(k, n)
        return 10 * np.log10(np.mean(w * w, axis=1) + 1e-12)

@hookimpl
def m0_register_analyzers(register):
    register("slow", Slow)
'''


def files(folder: Path) -> list[str]:
    """Every file under ``folder``, relative, sorted (none if it does not exist)."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def assert_only_complete_files(folder: Path) -> None:
    """No temporary file is left in ``folder``, every JSON parses, every clip probes."""
    for name in files(folder):
        path = folder / name
        assert not any(m in name for m in TEMP_MARKS) and not name.endswith(".tmp"), name
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.parent == folder and path.suffix not in (".html", ".sqlite", ".lock"):
            assert probe(path).duration, name


def assert_one_error_line(run: subprocess.CompletedProcess, *expected: str) -> str:
    """``run`` failed with exactly one ``Error:`` line holding each of ``expected``."""
    assert run.returncode not in (0, None), run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    lines = [ln for ln in run.stderr.strip().splitlines()
             if not ln.startswith("Warning: ") and ln not in PROGRESS_LABELS]
    assert len(lines) == 1 and lines[0].startswith("Error: "), run.stderr
    for text in expected:
        assert text in lines[0], run.stderr
    return lines[0]


@contextmanager
def tmpfs(folder: Path, size: str = "1m", read_only: bool = False) -> Iterator[Path]:
    """A small tmpfs mounted on ``folder`` for the block (skips the test if mounting fails)."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)
