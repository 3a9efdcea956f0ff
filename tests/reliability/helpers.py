"""What the reliability tests check again and again: a CLI run's one error line, an output
folder holding only complete files, a tmpfs mount for the full-disk and read-only cases."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from m0core.media.ffmpeg import probe

TEMP_MARKS = (".partial-", ".m0-write-test-")
PROGRESS_LABELS = ("Analysing", "Cutting clips")  # what a bar shows when stderr is no TTY


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
