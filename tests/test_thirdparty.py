"""Real third-party plugin packages, pip-installed, discovered through their entry points."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import time
from operator import itemgetter
from pathlib import Path

import pytest
from conftest import LOUD_AT, run_m0, sweep

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
    # the check is off: it judges the audio's own sound at the peak, which this analyzer's
    # scores ignore (the test tone there is no reaction, and a chance under 15 % drops it)
    run = run_m0("analyze", str(wav), str(tmp_path), "--analyzer", "window", "--no-clips",
                 "--json", "-P", "selector.check=false", env=installed)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["analyzer"]["name"] == "window"
    assert [h["peak_time"] for h in doc["highlights"]] == [pytest.approx(20.5, abs=0.5)]


def test_its_parameters_come_from_the_command_line(installed, wav, tmp_path):
    run = run_m0("analyze", str(wav), str(tmp_path), "--analyzer", "window", "--no-clips",
                 "--json", "-P", "analyzer.at=45", "-P", "selector.check=false", env=installed)
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


@pytest.mark.slow  # pip install and uninstall in a venv: the slow tier (CI runs it, and .ci/run
# installs and uses the example as a user does besides)
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


# -- a third-party plugin raising in its selector, encoder or writer --------------------------

BOOM = '''
import os
from concurrent.futures import Future

from m0core import ClipResult, Highlight, hookimpl


def boom(where, path=""):
    """Divide by zero at ``where`` when M0_BOOM names it (and M0_BOOM_ONLY is in ``path``)."""
    if os.environ.get("M0_BOOM") == where and os.environ.get("M0_BOOM_ONLY", "") in path:
        1 / 0


class Source:
    """The built-in soundfile source."""

    def __init__(self):
        from m0_plugins.soundfile_source import SoundfileSource

        self.inner = SoundfileSource()

    def probe(self, path):
        boom("source.probe")
        return self.inner.probe(path)

    def chunks(self, path, **where):
        for chunk in self.inner.chunks(path, **where):
            boom("source.chunks")
            yield chunk


class Selector:
    """One highlight at 13 s, given at the end."""

    def __init__(self, timeline, threshold=None):
        boom("selector.init")
        self.timeline = timeline

    def feed(self, scores):
        boom("selector.feed")
        return []

    def finish(self):
        boom("selector.finish")
        start, end = self.timeline.window(13.0)
        return [Highlight(start, end, 13.0, -10.0, 10.0, "boom")]


class Encoder:
    """Writes a text file per highlight in place of a clip."""

    def __init__(self, media, out_dir, **params):
        boom("encoder.init")
        self.media, self.out_dir = media, out_dir

    def submit(self, highlight):
        boom("encoder.submit", self.media.path)
        future = Future()
        try:
            boom("encoder.clip", self.media.path)
            path = self.out_dir / f"{highlight.index:02d}.txt"
            if os.environ.get("M0_BOOM") == "encoder.half":  # half a clip, said to have failed
                path.write_text("half")
                future.set_result(ClipResult(highlight, str(path), False, "ran out"))
                return future
            if os.environ.get("M0_BOOM") != "encoder.nofile":  # or say it is made anyway
                path.write_text(str(highlight.peak_time))
            if os.environ.get("M0_BOOM") == "encoder.numpy":  # as from an array of times
                import numpy as np

                future.set_result(ClipResult(highlight, str(path), True, None, np.float64(0.5),
                                             np.float32(highlight.start)))
                return future
            future.set_result(ClipResult(highlight, str(path), True))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def close(self, cancel=False):
        boom("encoder.close")


class Writer:
    def __init__(self):
        boom("writer.init")

    def write(self, result, out_dir):
        boom("writer.write", result.media.path)
        target = out_dir / "boom.txt"
        if os.environ.get("M0_BOOM") == "writer.half":  # a file and a folder, then it fails
            target.write_text("half")
            (out_dir / "boom").mkdir()
            (out_dir / "boom" / "1.png").write_text("half")
            1 / 0
        if os.environ.get("M0_BOOM") == "writer.outside":  # beside the output folder
            target = out_dir.parent.parent / "boom.txt"
        if os.environ.get("M0_BOOM") != "writer.nofile":  # or say it is written anyway
            target.write_text("written")
        return [target]


@hookimpl
def m0_register_sources(register):
    register("boom", Source)


@hookimpl
def m0_register_selectors(register):
    register("boom", Selector)


@hookimpl
def m0_register_encoders(register):
    register("boom", Encoder)


@hookimpl
def m0_register_writers(register):
    register("boom", Writer)
'''

BOOM_ARGS = ("--source", "boom", "--selector", "boom", "--encoder", "boom", "-f", "boom",
             "--no-report", "-q")


@pytest.fixture
def boom_env(fake_dist) -> dict[str, str]:
    """An environment with the ``m0-boom`` plugin (source, selector, encoder, writer ``boom``),
    which divides by zero where ``M0_BOOM`` says."""
    return fake_dist("m0-boom", BOOM, version="1.2")


def files(folder: Path) -> list[str]:
    """The names of the files in ``folder`` (none if it does not exist), sorted."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_boom_plugin_works_when_nothing_raises(boom_env, wav, tmp_path):
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), *BOOM_ARGS, env=boom_env)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert files(tmp_path / "out") == ["01.txt", "boom.txt", "highlights.json", "index.json"]


@pytest.mark.parametrize("where", sweep([
    "source.probe", "source.chunks", "selector.init", "selector.feed", "selector.finish",
    "encoder.init", "encoder.submit", "encoder.clip", "encoder.close", "writer.init",
    "writer.write"], {"source.chunks", "selector.feed", "encoder.clip", "writer.write"}))
def test_plugin_raising_is_one_line_naming_it(boom_env, wav, tmp_path, where):
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), *BOOM_ARGS, env=dict(boom_env, M0_BOOM=where))
    kind = where.split(".")[0]
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-boom" ({kind} "boom", from m0-boom 1.2): '
        "ZeroDivisionError: division by zero"], run.stderr
    if where == "writer.write":  # after the run: what the others wrote is kept
        assert files(out) == ["01.txt", "highlights.json", "index.json"]
    else:  # a failed run leaves nothing behind
        assert files(out) == []


def test_what_a_writer_that_fails_has_written_is_not_published(boom_env, wav, tmp_path):
    """A writer that wrote part of its files and raised had them published beside the clips
    (boom.txt saying 'half', its boom/ folder), though highlights.json named none of them."""
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), *BOOM_ARGS,
                 env=dict(boom_env, M0_BOOM="writer.half"))
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        'Error: plugin "m0-boom" (writer "boom", from m0-boom 1.2): ZeroDivisionError: '
        "division by zero"]
    assert files(out) == ["01.txt", "highlights.json", "index.json"]


def test_what_an_encoder_left_of_a_failed_clip_is_not_published(boom_env, wav, tmp_path):
    """A ClipResult that says the clip failed (ok=False) but names the half of it the encoder
    wrote had that file published as the clip (01.txt saying 'half'), though highlights.json
    said clip 1 failed."""
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), *BOOM_ARGS,
                 env=dict(boom_env, M0_BOOM="encoder.half"))
    assert run.returncode == 1
    assert run.stderr.splitlines() == ["Warning: clip 1 failed: ran out",
                                       "Error: 1 of 1 clips failed"]
    assert files(out) == ["boom.txt", "highlights.json", "index.json"]


def test_encoder_saying_a_clip_is_made_without_a_file_is_one_line_naming_it(boom_env, wav,
                                                                            tmp_path):
    """It used to pass: exit 0, and highlights.json listing a clip that does not exist."""
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), *BOOM_ARGS,
                 env=dict(boom_env, M0_BOOM="encoder.nofile"))
    assert run.returncode == 1
    assert re.fullmatch(r'Error: plugin "m0-boom" \(encoder "boom", from m0-boom 1\.2\): said '
                        r"clip 1 was made as '.*/01\.txt', but there is no such file\n",
                        run.stderr), run.stderr
    assert files(out) == []


@pytest.mark.parametrize("where, problem", [
    ("writer.outside", r"returned '.*/boom\.txt', which is not inside the folder it was given"),
    ("writer.nofile", r"returned '.*/boom\.txt' as written, but there is no such file"),
])
def test_writer_returning_a_path_it_did_not_write_there_is_one_line_naming_it(
        boom_env, wav, tmp_path, where, problem):
    """A path outside the folder used to end m0 with 'unexpected ValueError: ... is not in the
    subpath of ...' after publishing; a file that is not there was listed in highlights.json
    with exit 0. Now the writer failed, as one raising does: the rest is kept."""
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), *BOOM_ARGS, env=dict(boom_env, M0_BOOM=where))
    assert run.returncode == 1
    assert re.fullmatch(r'Error: plugin "m0-boom" \(writer "boom", from m0-boom 1\.2\): '
                        + problem + "\n", run.stderr), run.stderr
    assert files(out) == ["01.txt", "highlights.json", "index.json"]
    assert json.loads((out / "highlights.json").read_text())["outputs"] == ["index.json"]


def test_debug_shows_the_traceback_of_a_plugin_raising(boom_env, wav, tmp_path):
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), *BOOM_ARGS,
                 env=dict(boom_env, M0_BOOM="selector.feed", M0_DEBUG="1"))
    assert run.returncode == 1
    assert "Traceback" in run.stderr and "m0_boom.py" in run.stderr
    assert run.stderr.rstrip().endswith(
        'PluginError: plugin "m0-boom" (selector "boom", from m0-boom 1.2): '
        "ZeroDivisionError: division by zero")


@pytest.mark.parametrize("where", ["encoder.submit", "writer.write"])
def test_batch_job_of_a_plugin_raising_fails_alone(boom_env, wav, tmp_path, where):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("bad.wav", "good.wav"):
        shutil.copy(wav, inputs / name)
    run = run_m0("batch", str(inputs), str(tmp_path / "out"), *BOOM_ARGS, "--json",
                 env=dict(boom_env, M0_BOOM=where, M0_BOOM_ONLY="bad"))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    jobs = {Path(job["video_path"]).name: job for job in json.loads(run.stdout)["jobs"]}
    assert jobs["good.wav"]["status"] == "completed"
    assert jobs["bad.wav"]["status"] == "failed"
    assert jobs["bad.wav"]["error"] == (
        f'plugin "m0-boom" ({where.split(".")[0]} "boom", from m0-boom 1.2): '
        "ZeroDivisionError: division by zero")


# -- a third-party selector breaking the contract with what it returns ----------------------

BAD_SELECTOR = '''
import os

from m0core import Highlight, hookimpl


class Selector:
    """Gives, at the end, the highlight M0_GIVE describes."""

    def __init__(self, timeline, threshold=None):
        pass

    def feed(self, scores):
        return []

    def finish(self):
        give = os.environ["M0_GIVE"]
        if give == "tuple":
            return [(10.0, 20.0, 13.0)]
        if give in ("no level", "a word", "nan level", "silent level"):
            level = {"no level": None, "a word": "loud", "nan level": float("nan"),
                     "silent level": float("-inf")}[give]
            return [Highlight(3.0, 23.0, 13.0, level, 10.0)]
        if give == "backwards":  # 40 s, then 13 s
            return [Highlight(30.0, 50.0, 40.0, -10.0, 10.0),
                    Highlight(3.0, 23.0, 13.0, -10.0, 10.0)]
        if give == "kind 7":
            return [Highlight(3.0, 23.0, 13.0, -10.0, 10.0, kind=7)]
        if give == "no reason":
            return [Highlight(3.0, 23.0, 13.0, -10.0, 10.0, reason=None)]
        if give == "numpy numbers":  # as taken from the scores: float32
            import numpy as np

            values = np.array([3.0, 23.0, 13.0, -10.0, 10.0], dtype=np.float32)
            return [Highlight(*values)]
        start, end = (float(t) for t in give.split(","))
        return [Highlight(start, end, 13.0, -10.0, 10.0)]


@hookimpl
def m0_register_selectors(register):
    register("bad", Selector)
'''


@pytest.mark.parametrize("give, problem", sweep([
    ("tuple", "gave a value of type tuple, not an m0core.Highlight"),
    ("nan,20", "gave a highlight with start nan, end 20.0, peak_time 13.0: times must be "
               "finite numbers of seconds"),
    ("20,10", "gave a highlight whose window is empty (start 20 s, end 10 s; times are "
              "seconds from the start of the media)"),
    ("-20,-5", "gave a highlight whose window is empty (start -20 s, end -5 s; times are "
               "seconds from the start of the media)"),
    ("995,1005", "gave a highlight starting at 995 s, after the end of the audio (60 s)"),
    ("backwards", "gave a highlight peaking at 13 s after one peaking at 40 s (highlights "
                  "come in time order)"),
    ("no level", "gave a highlight whose peak_db is None, not a number"),
    ("a word", "gave a highlight whose peak_db is 'loud', not a number"),
    # m0's own edl, otio and fcpxml writers failed on it, blamed
    ("kind 7", "gave a highlight whose kind is 7, not a string"),
    ("no reason", "gave a highlight whose reason is None, not a string"),
], {"tuple", "nan,20", "995,1005", "backwards", "kind 7"}, key=itemgetter(0)))
def test_selector_giving_a_bad_highlight_is_one_line_naming_it(fake_dist, wav, tmp_path, give,
                                                               problem):
    """Not 'unexpected AttributeError'/'ValueError: Out of range float values are not JSON
    compliant', nor a clip failing with 'empty clip window' or 'clip window starts at 995.0 s,
    after the end', as before; highlights out of time order were numbered and cut in that
    order (clip 01 at 40 s, 02 at 13 s)."""
    env = dict(fake_dist("m0-bad", BAD_SELECTOR, version="0.1"), M0_GIVE=give)
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--selector", "bad", "-q", env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-bad" (selector "bad", from m0-bad 0.1): {problem}'], run.stderr
    assert files(out) == []


def test_a_highlight_whose_level_is_nan_is_written_with_no_level(fake_dist, wav, tmp_path):
    """A highlight's peak_db may be NaN (highlights.json says null): index.json's 'decibel'
    ended m0 with 'unexpected ValueError: Out of range float values are not JSON compliant:
    nan'; it says null too."""
    env = dict(fake_dist("m0-bad", BAD_SELECTOR, version="0.1"), M0_GIVE="nan level")
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--selector", "bad", "-q", "--no-report",
                 "--no-clips", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads((out / "index.json").read_text())["13"]["decibel"] is None
    assert json.loads((out / "highlights.json").read_text())["highlights"][0]["peak_db"] is None


def test_a_highlight_of_numpy_numbers_is_taken(fake_dist, wav, tmp_path):
    """A highlight whose times and level were numpy float32 (as a selector takes them from its
    scores) ended the run with 'unexpected TypeError: Object of type float32 is not JSON
    serializable', naming no plugin."""
    env = dict(fake_dist("m0-bad", BAD_SELECTOR, version="0.1"), M0_GIVE="numpy numbers")
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--selector", "bad", "-q", "--no-clips",
                 "-f", "csv", env=env)
    assert run.returncode == 0, run.stderr
    (written,) = json.loads((out / "highlights.json").read_text())["highlights"]
    assert [written[k] for k in ("start", "end", "peak_time", "peak_db", "score")] == [
        3.0, 23.0, 13.0, -10.0, 10.0]


@pytest.mark.parametrize(("give", "said"), [("nan level", ""), ("silent level", "silent")])
def test_a_level_that_is_no_number_is_not_written_as_nan_or_inf(fake_dist, wav, tmp_path,
                                                                give, said):
    """A highlight's peak_db of NaN or -inf (digital silence) named its clip
    '01_0h00m13s_nandB.wav' or '..._-infdB.wav', its chapter 'Highlight 1 · 0:00:13 · nan dB'
    its timelines' clip '01 0:00:13 nan dB highlight' and its line of -v '    nan dB'; they
    leave the level out, or say 'silent' for -inf."""
    import opentimelineio as otio

    env = dict(fake_dist("m0-bad", BAD_SELECTOR, version="0.1"), M0_GIVE=give)
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--selector", "bad", "--no-report", "-v",
                 "-f", "chapters", "-f", "csv", "-f", "otio", "--workers", "1", env=env)
    assert run.returncode == 0, run.stderr
    clip = "01_0h00m13s" + (f"_{said}" if said else "") + ".wav"
    assert (out / clip).is_file()
    titles = [line for line in (out / "chapters.txt").read_text().splitlines()
              if line.startswith("title=Highlight")]
    assert titles == ["title=Highlight 1 · 0:00:13" + (f" · {said}" if said else "")]
    (row,) = list(csv.DictReader((out / "highlights.csv").read_text().splitlines()))
    assert row["peak_db"] == "" and row["clip"] == clip
    timeline = otio.adapters.read_from_file(str(out / "highlights.otio"))
    assert [c.name for c in timeline.find_clips()] == [
        "01 0:00:13 " + (f"{said} " if said else "") + "highlight"]
    (listed,) = [line for line in run.stdout.splitlines() if clip in line]
    assert ("silent" if said else "–") in listed
    for text in (run.stdout, (out / "chapters.txt").read_text(), clip):
        assert "nan" not in text.lower() and "inf" not in text.lower()


def test_a_window_a_selector_starts_before_0_starts_at_0(fake_dist, wav, tmp_path):
    """A window of -5…20 s was written as it was: highlights.json said start -5."""
    env = dict(fake_dist("m0-bad", BAD_SELECTOR, version="0.1"), M0_GIVE="-5,20")
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--selector", "bad", "-q", "--no-report",
                 env=env)
    assert run.returncode == 0, run.stderr
    (only,) = json.loads((out / "highlights.json").read_text())["highlights"]
    assert (only["start"], only["end"]) == (0.0, 20.0)


# -- a third-party analyzer breaking the contract with what it returns ----------------------

BAD_ANALYZER = '''
import os

import numpy as np
from m0core import hookimpl


class Analyzer:
    """-20 dB per hop begun, returned the way M0_RETURN says."""

    hop = 0.1

    def __init__(self):
        self.done = 0

    def feed(self, chunk):
        end = int(np.ceil(round(chunk.end / self.hop, 6)))
        values = np.full(end - self.done, -20.0)
        self.done = end
        how = os.environ["M0_RETURN"]
        if how == "twice":  # a buffer appended twice
            return np.concatenate([values, values])
        if how == "nan" and chunk.start > 20:
            values[-1] = np.nan
        if how == "column":
            return values.reshape(-1, 1)
        return None if how == "none" else values


@hookimpl
def m0_register_analyzers(register):
    register("bad", Analyzer)
'''


@pytest.mark.parametrize("how, problem", sweep([
    ("twice", "returned 1200 score values for 60 s of audio at hop 0.1 s, not 600 (one per "
              "hop begun)"),
    ("nan", "returned 1 NaN or infinite score value (return a floor value instead)"),
    ("none", "returned None, not a 1-D array of score values"),
    ("column", r"returned a value of type ndarray of shape \(\d+, 1\), not a 1-D array of "
               "score values"),
], {"twice", "none"}, key=itemgetter(0)))
@pytest.mark.parametrize("analyzer", ["bad", "bad+rms-streaming"])
def test_analyzer_returning_bad_values_is_one_line_naming_it(fake_dist, wav, tmp_path, how,
                                                             problem, analyzer):
    """As many values again (the highlight at twice its time), NaN, None or a column used
    to be taken as scores without a word. Combined with another analyzer, as many again were
    taken (exit 0), and the others named 'analyzer "bad+rms-streaming"', not the plugin."""
    env = dict(fake_dist("m0-bad", BAD_ANALYZER, version="0.1"), M0_RETURN=how)
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--analyzer", analyzer, "-q", env=env)
    assert run.returncode == 1
    line = re.escape('Error: plugin "m0-bad" (analyzer "bad", from m0-bad 0.1): ')
    assert re.fullmatch(line + (problem if how == "column" else re.escape(problem)) + "\n",
                        run.stderr), run.stderr
    assert files(out) == []
    assert run_m0("analyze", str(wav), str(out), "--analyzer", analyzer, "-q",
                  env=dict(env, M0_RETURN="right")).returncode == 0


def test_an_analyzer_may_leave_out_the_value_of_a_partial_last_hop():
    """The count m0 checks allows one value fewer where the stream ends inside a hop (an
    analyzer giving only whole hops worked before the check and keeps working); where the
    stream ends on a hop's edge, or by more than one, a missing value is refused."""
    from m0core.contracts import count_problem

    rate, hop = 48000, 0.1
    assert count_problem(11, 10 * 4800 + 100, rate, hop) is None   # ceil: the partial hop too
    assert count_problem(10, 10 * 4800 + 100, rate, hop) is None   # the partial hop left out
    assert count_problem(9, 10 * 4800 + 100, rate, hop) is not None
    assert count_problem(10, 10 * 4800, rate, hop) is None
    assert "not 10 (one per hop begun)" in count_problem(9, 10 * 4800, rate, hop)
    assert count_problem(20, 10 * 4800, rate, hop) is not None
    assert count_problem(0, 0, rate, hop) is None


# -- a third-party source breaking the contract with what it gives ---------------------------

BAD_SOURCE = '''
import os

from m0core import AudioChunk, hookimpl


class Source:
    """The built-in soundfile source, but for what M0_GIVE says."""

    def __init__(self):
        from m0_plugins.soundfile_source import SoundfileSource

        self.inner = SoundfileSource()
        self.give = os.environ["M0_GIVE"]

    def probe(self, path):
        if self.give == "numpy media":  # as from an array of what it read
            import dataclasses

            import numpy as np

            media = self.inner.probe(path)
            return dataclasses.replace(media, duration=np.float32(media.duration),
                                       sample_rate=np.int64(media.sample_rate),
                                       channels=np.int32(media.channels))
        return None if self.give == "no media" else self.inner.probe(path)

    def chunks(self, path, **where):
        for i, chunk in enumerate(self.inner.chunks(path, **where)):
            if self.give == "tuples":
                yield chunk.samples, chunk.sample_rate
            elif self.give == "another rate" and i == 2:
                yield AudioChunk(chunk.samples[::2], chunk.sample_rate // 2, chunk.start)
            elif self.give == "a gap" and i >= 2:
                yield AudioChunk(chunk.samples, chunk.sample_rate, chunk.start + 1.0)
            elif self.give == "not numbers" and i == 2:
                samples = chunk.samples.copy()
                samples[4800:4803] = float("nan")
                yield AudioChunk(samples, chunk.sample_rate, chunk.start)
            else:
                yield chunk


@hookimpl
def m0_register_sources(register):
    register("bad", Source)
'''


@pytest.mark.parametrize("give, problem", [
    ("no media", r"gave None for the file, not an m0core\.MediaInfo"),
    ("tuples", r"gave a value of type tuple for a chunk, not an m0core\.AudioChunk"),
    ("another rate", r"changed the sample rate from 48000 Hz to 24000 Hz at [\d.]+ s \(it is "
                     r"fixed for the whole stream\)"),
    ("a gap", r"gave a chunk starting at ([\d.]+) s after one that ended at ([\d.]+) s \(chunks "
              r"come in time order, with no gaps\)"),
    ("not numbers", r"gave samples that are not numbers \(NaN or infinite\) from ([\d.]+) s "
                    r"\(samples are finite, -1\.\.1\)"),
])
def test_source_giving_what_breaks_its_contract_is_one_line_naming_it(fake_dist, wav, tmp_path,
                                                                      give, problem):
    """These used to be 'unexpected AttributeError', a failure blamed on the built-in rms
    analyzer (samples that are not numbers too), or (a gap) taken as if there were none, the
    later scores at the wrong times."""
    env = dict(fake_dist("m0-bad", BAD_SOURCE, version="0.1"), M0_GIVE=give)
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--source", "bad", "-q", env=env)
    assert run.returncode == 1
    assert re.fullmatch(r'Error: plugin "m0-bad" \(source "bad", from m0-bad 0\.1\): '
                        + problem + "\n", run.stderr), run.stderr
    assert files(out) == []


def test_numpy_numbers_from_a_source_or_an_encoder_are_taken(fake_dist, boom_env, wav,
                                                            tmp_path):
    """A source's MediaInfo or an encoder's ClipResult holding numpy numbers ended the run with
    'unexpected TypeError: Object of type float32 is not JSON serializable', naming no plugin
    and publishing nothing (a Highlight's, the same: test_a_highlight_of_numpy_numbers_is_taken)."""
    env = dict(fake_dist("m0-bad", BAD_SOURCE, version="0.1"), M0_GIVE="numpy media")
    run = run_m0("analyze", str(wav), str(tmp_path / "a"), "--source", "bad", "--no-clips",
                 "-q", "-f", "csv", env=env)
    assert run.returncode == 0, run.stderr
    source = json.loads((tmp_path / "a" / "highlights.json").read_text())["source"]
    assert (source["duration"], source["sample_rate"]) == (60.0, 48000)
    out = tmp_path / "b"
    run = run_m0("analyze", str(wav), str(out), *BOOM_ARGS,
                 env=dict(boom_env, M0_BOOM="encoder.numpy"))
    assert run.returncode == 0, run.stderr
    (written,) = json.loads((out / "highlights.json").read_text())["highlights"]
    assert written["clip"] == "01.txt" and written["clip_start"] == 0.0


def test_m0_probe_names_a_source_that_fails_or_gives_no_media(fake_dist, boom_env, wav):
    """``m0 probe --source NAME`` called the source's probe bare: 'unexpected
    ZeroDivisionError' or 'unexpected AttributeError', no plugin named."""
    run = run_m0("probe", str(wav), "--source", "boom", env=dict(boom_env, M0_BOOM="source.probe"))
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        'Error: plugin "m0-boom" (source "boom", from m0-boom 1.2): ZeroDivisionError: '
        "division by zero"]
    env = dict(fake_dist("m0-bad", BAD_SOURCE, version="0.1"), M0_GIVE="no media")
    run = run_m0("probe", str(wav), "--source", "bad", "--json", env=env)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.splitlines() == [
        'Error: plugin "m0-bad" (source "bad", from m0-bad 0.1): gave None for the file, not an '
        "m0core.MediaInfo"]


# -- a third-party plugin printing to stdout -----------------------------------------------

CHATTY = '''
import os
import subprocess
import sys

from m0core import hookimpl

print("chatty: loaded")


class Selector:
    def __init__(self, timeline, threshold=None):
        self.timeline = timeline

    def feed(self, scores):
        print("chatty: fed", len(scores))
        subprocess.run([sys.executable, "-c", "print('chatty: a child process')"])
        return []

    def finish(self):
        os.write(1, b"chatty: finished\\n")
        return []


@hookimpl
def m0_register_selectors(register):
    register("chatty", Selector)
'''


def test_what_a_plugin_prints_goes_to_stderr_and_the_json_stays_valid(fake_dist, wav,
                                                                       tmp_path):
    """A plugin printing (at import, in a stage, from a process it starts) used to write
    into m0's stdout: 'm0 analyze --json' and 'm0 plugins --json' were no longer JSON."""
    env = fake_dist("m0-chatty", CHATTY)
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--selector", "chatty",
                 "--no-clips", "--json", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["selector"]["name"] == "chatty"
    for said in ("chatty: loaded", "chatty: fed", "chatty: a child process",
                 "chatty: finished"):
        assert said in run.stderr
    listing = run_m0("plugins", "--json", env=env)
    assert [row["name"] for row in json.loads(listing.stdout)] == ["m0-chatty"]
    assert "chatty: loaded" in listing.stderr


# -- a third-party stage without a member its contract requires ------------------------------

HALF = '''
from m0core import hookimpl


class Analyzer:  # no hop
    def feed(self, chunk):
        return []


class Selector:  # no finish
    def __init__(self, timeline, threshold=None):
        pass

    def feed(self, scores):
        return []


class Writer:  # write misspelt
    def writes(self, result, out_dir):
        return []


@hookimpl
def m0_register_analyzers(register):
    register("half", Analyzer)


@hookimpl
def m0_register_selectors(register):
    register("half", Selector)


@hookimpl
def m0_register_writers(register):
    register("half", Writer)
'''


@pytest.mark.parametrize("option, problem", [
    ("--analyzer", "built an Analyzer without hop (an analyzer has hop and feed())"),
    ("--selector", "built a Selector without finish() (a selector has feed() and finish())"),
    ("-f", "built a Writer without write() (a writer has write())"),
])
def test_a_stage_without_a_required_member_is_one_line_before_the_run(fake_dist, wav, tmp_path,
                                                                       option, problem):
    """A selector without finish() ran the whole analysis (hours on a long VOD) and then
    failed with 'AttributeError: 'Selector' object has no attribute 'finish''; an analyzer
    without hop was 'unexpected AttributeError', naming no plugin; a writer without write()
    failed after the clips. The contract table says what is required: m0 checks it when it
    builds the stage."""
    env = fake_dist("m0-half", HALF, version="0.1")
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), option, "half", "-q", env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-half" ({ {"-f": "writer"}.get(option, option[2:])} "half", from '
        f"m0-half 0.1): {problem}"], run.stderr
    assert files(out) == []


# -- a third-party encoder's renumber giving back other clips than it was given --------------

#: An encoder plugin's module that writes a text file per highlight in place of a clip
#: (class ``TextEncoder``), for the tests of its optional members below.
TEXT_ENCODER = '''
import os
from concurrent.futures import Future
from dataclasses import replace

from m0core import ClipResult, Compilation, hookimpl


class TextEncoder:
    """A text file per highlight in place of a clip."""

    def __init__(self, media, out_dir, **params):
        self.out_dir = out_dir

    def submit(self, highlight):
        path = self.out_dir / f"{highlight.index}.txt"
        path.write_text(str(highlight.peak_time))
        future = Future()
        future.set_result(ClipResult(highlight, str(path), True))
        return future

    def close(self, cancel=False):
        pass
'''

RENUMBER = TEXT_ENCODER + '''

class Encoder(TextEncoder):
    """Renumbers as M0_RENUMBER says."""

    def renumber(self, clips, count):
        how = os.environ["M0_RENUMBER"]
        if how == "none":
            return None
        if how == "first":
            return clips[:1]
        if how == "twice":
            return clips + clips
        renamed = []
        for clip in clips:
            target = self.out_dir / f"clip-{clip.highlight.index}.txt"
            os.rename(clip.path, target)
            renamed.append(replace(clip, path=str(target)))
        return renamed[::-1] if how == "reversed" else renamed


@hookimpl
def m0_register_encoders(register):
    register("renumber", Encoder)
'''


@pytest.mark.parametrize("how, problem", [
    ("none", "renumber() returned None, not a list of the clips"),
    ("first", "gave back 1 clip from renumber() for the 3 it was given (one for each, renamed)"),
    ("twice", "gave back 6 clips from renumber() for the 3 it was given (one for each, "
              "renamed)"),
])
def test_an_encoders_renumber_giving_back_other_clips_is_one_line_naming_it(
        fake_dist, wav, tmp_path, how, problem):
    """renumber() giving back the first clip only said '1 clip in OUT' with exit 0 while 3
    were in the folder, highlights.json naming none for the other two; giving each clip twice
    said '6 clips'. The clips it gives back are one for each it was given, in any order."""
    env = dict(fake_dist("m0-renumber", RENUMBER, version="0.3"), M0_RENUMBER=how)
    out = tmp_path / "out"
    args = ("analyze", str(wav), str(out), "--encoder", "renumber", "--selector", "top",
            "--max-clips", "3", "--no-report", "-q")
    run = run_m0(*args, env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-renumber" (encoder "renumber", from m0-renumber 0.3): '
        f"{problem}"], run.stderr
    assert files(out) == []
    right = run_m0(*args, "--json", env=dict(env, M0_RENUMBER="reversed"))
    assert right.returncode == 0, right.stderr
    assert [Path(h["clip"]).name for h in json.loads(right.stdout)["highlights"]] == [
        "clip-1.txt", "clip-2.txt", "clip-3.txt"]


# -- a third-party encoder's compile() giving what is not a compilation -----------------------

COMPILE = TEXT_ENCODER + '''

class Encoder(TextEncoder):
    """Joins the clips as M0_COMPILE says."""

    def compile(self, clips):
        how = os.environ["M0_COMPILE"]
        if how == "none":
            return None
        path = self.out_dir / "joined.txt"
        if how != "nofile":
            path.write_text("joined")
        indexes = tuple(clip.highlight.index for clip in clips)
        chapters = tuple((i * 30.0, i * 30.0 + 30) for i in range(len(clips)))
        return Compilation(str(path), True, indexes, chapters[:1] if how == "one" else chapters,
                           30.0 * len(clips))


@hookimpl
def m0_register_encoders(register):
    register("joiner", Encoder)
'''


@pytest.mark.parametrize("how, problem", [
    ("none", r"gave None from compile\(\), not an m0core\.Compilation"),
    ("nofile", r"said the compilation was made as '.*/joined\.txt', but there is no such file"),
    ("one", r"gave a compilation of 3 clips with 1 chapter \(a \(start, end\) for each clip\)"),
])
def test_an_encoders_compile_giving_no_compilation_is_one_line_naming_it(
        fake_dist, wav, tmp_path, how, problem):
    """compile() giving None, or a compilation with a chapter for one clip of three, ended m0
    with 'unexpected AttributeError' or 'unexpected ValueError: zip() argument 2 is shorter
    than argument 1', naming no plugin; one naming a file it did not make was published with
    exit 0 and highlights.json naming it."""
    env = dict(fake_dist("m0-joiner", COMPILE, version="0.2"), M0_COMPILE=how)
    out = tmp_path / "out"
    args = ("analyze", str(wav), str(out), "--encoder", "joiner", "--selector", "top",
            "--max-clips", "3", "--compilation", "--no-report", "-q")
    run = run_m0(*args, env=env)
    assert run.returncode == 1
    assert re.fullmatch(r'Error: plugin "m0-joiner" \(encoder "joiner", from m0-joiner 0\.2\): '
                        + problem + "\n", run.stderr), run.stderr
    assert files(out) == []
    right = run_m0(*args, env=dict(env, M0_COMPILE="right"))
    assert right.returncode == 0, right.stderr
    assert "joined.txt" in files(out)


# -- a third-party writer's steps() breaking its contract --------------------------------------

STEPS = '''
import os

from m0core import hookimpl
from m0core.outputs import write_text_atomic


class Writer:
    """One line per highlight, a step each; steps() as M0_STEPS says."""

    def steps(self, result):
        how = os.environ["M0_STEPS"]
        return {"none": None, "half": len(result.highlights) + 0.5, "text": "3",
                "negative": -2}.get(how, len(result.highlights))

    def write(self, result, out_dir, step=None):
        for _ in result.highlights:
            step()
        target = out_dir / "steps.txt"
        write_text_atomic(target, "".join(f"{h.peak_time}\\n" for h in result.highlights))
        return [target]


class NoStep(Writer):
    """Has steps() but its write() takes no step."""

    def write(self, result, out_dir):
        target = out_dir / "nostep.txt"
        write_text_atomic(target, "written")
        return [target]


@hookimpl
def m0_register_writers(register):
    register("steps", Writer)
    register("nostep", NoStep)
'''


@pytest.mark.parametrize("writer, how, problem", sweep([
    ("steps", "none", "steps() returned None, not a whole number of steps"),
    ("steps", "half", "steps() returned 3.5, not a whole number of steps"),
    ("steps", "text", "steps() returned '3', not a whole number of steps"),
    ("steps", "negative", "steps() returned -2, not a whole number of steps"),
    ("nostep", "right", "has steps() but its write() takes no step (write(result, out_dir, "
                        "step=None), calling step() after each)"),
], {"none", "right"}, key=itemgetter(1)))
def test_a_writers_steps_breaking_its_contract_is_one_line_naming_it(fake_dist, wav, tmp_path,
                                                                     writer, how, problem):
    """steps() giving None was 'TypeError: int() argument must be a string, a bytes-like
    object or a real number, not 'NoneType''; 3.5, '3' or -2 were taken (as 3, 3 and 1 steps);
    a write() without step was 'TypeError: NoStep.write() got an unexpected keyword argument
    'step''."""
    env = dict(fake_dist("m0-steps", STEPS, version="0.4"), M0_STEPS=how)
    out = tmp_path / "out"
    args = ("analyze", str(wav), str(out), "-f", writer, "--selector", "top", "--max-clips",
            "3", "--no-clips", "--no-report", "-q")
    run = run_m0(*args, env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-steps" (writer "{writer}", from m0-steps 0.4): {problem}'], run.stderr
    assert files(out) == ["highlights.json", "index.json"]  # the rest is kept
    if writer == "steps":
        assert run_m0(*args, env=dict(env, M0_STEPS="right")).returncode == 0
        assert (out / "steps.txt").read_text().count("\n") == 3


# -- the guide's encoder wrapping the built-in one ------------------------------------------


def test_the_guides_wrapper_of_the_builtin_encoder_works_as_a_plugin(fake_dist, vod, tmp_path):
    """The guide did not say how a plugin builds on a built-in stage (an encoder logging its
    clips, a selector keeping some of standout's moments): its wrapper, as written there,
    installed as a plugin, cuts the clips, forwards renumber() and compile() and logs each."""
    guide = (EXAMPLE.parent.parent / "plugins" / "README.md").read_text()
    block = re.search(r"```python\n(# m0_logged\.py.*?)```", guide, re.S)
    assert block, "the guide no longer shows a wrapper of the built-in encoder"
    env = fake_dist("m0-logged", block.group(1), version="0.1")
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), "--encoder", "logged", "--cut", "copy",
                 "--compilation", "--no-report", "--json", env=env)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    clips = [h["clip"] for h in doc["highlights"]]
    assert clips and all((out / c).is_file() for c in clips)
    assert doc["compilation"]["file"] == "compilation.mp4" and (out / "compilation.mp4").is_file()
    logged = (out / "clips.log").read_text().splitlines()
    assert sorted(int(line.split()[0]) for line in logged) == list(range(1, len(clips) + 1))


# -- a third-party writer writing m0's own files -----------------------------------------------

CLOBBER = '''
import os

from m0core import hookimpl
from m0core.outputs import write_text_atomic


class Writer:
    """Writes its text as the file M0_NAME names."""

    def write(self, result, out_dir):
        target = out_dir / os.environ["M0_NAME"]
        write_text_atomic(target, "the writer's")
        return [target]


@hookimpl
def m0_register_writers(register):
    register("clobber", Writer)
'''


@pytest.mark.parametrize("name", ["index.json", "highlights.json"])
def test_a_writer_writing_m0s_own_files_is_one_line_naming_it(fake_dist, wav, tmp_path, name):
    """A writer naming its file index.json replaced m0's index.json (exit 0, the run's index
    gone); one naming it highlights.json had its file replaced by m0's and listed as its
    output. Those two are m0's: the writer failed, m0's files are m0's."""
    env = dict(fake_dist("m0-clobber", CLOBBER, version="0.5"), M0_NAME=name)
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "-f", "clobber", "--no-clips", "--no-report",
                 "-q", env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-clobber" (writer "clobber", from m0-clobber 0.5): wrote {name}, '
        "which is m0's own (index.json and highlights.json: name your files otherwise)"], \
        run.stderr
    assert files(out) == ["highlights.json", "index.json"]
    assert "the writer's" not in (out / "index.json").read_text()
    assert json.loads((out / "highlights.json").read_text())["outputs"] == ["index.json"]
    fine = run_m0("analyze", str(wav), str(out), "-f", "clobber", "--no-clips", "--no-report",
                  "-q", env=dict(env, M0_NAME="index.txt"))
    assert fine.returncode == 0, fine.stderr


# -- a third-party encoder's submit() giving no future -----------------------------------------

SYNC = '''
from m0core import ClipResult, hookimpl


class Encoder:
    """Cuts each clip (a text file) in submit() and returns its ClipResult itself."""

    def __init__(self, media, out_dir, **params):
        self.out_dir = out_dir

    def submit(self, highlight):
        path = self.out_dir / f"{highlight.index}.txt"
        path.write_text("a clip")
        return ClipResult(highlight, str(path), True)

    def close(self, cancel=False):
        pass


@hookimpl
def m0_register_encoders(register):
    register("sync", Encoder)
'''


def test_an_encoders_submit_giving_no_future_is_one_line_naming_it(fake_dist, wav, tmp_path):
    """An encoder whose submit() returns the ClipResult itself (cutting the clip on the spot)
    ended m0 with "unexpected AttributeError: 'ClipResult' object has no attribute
    '_condition'", naming no plugin."""
    env = fake_dist("m0-sync", SYNC, version="0.6")
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--encoder", "sync", "--no-report", "-q",
                 env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        'Error: plugin "m0-sync" (encoder "sync", from m0-sync 0.6): submit() returned a value '
        "of type ClipResult, not a concurrent.futures.Future of the clip's ClipResult (one "
        "made at once: future = Future(); future.set_result(result))"], run.stderr
    assert files(out) == []


HANGING_ENCODER = SYNC + '''
from concurrent.futures import Future


class Hanging(Encoder):
    """Takes each clip and never finishes it (its worker died, its queue is lost)."""

    def submit(self, highlight):
        return Future()


@hookimpl
def m0_register_encoders(register):  # this one, not SYNC's
    register("hanging", Hanging)
'''


@pytest.mark.slow
def test_an_encoder_that_never_finishes_a_clip_is_one_line_naming_it(fake_dist, wav, tmp_path):
    """An encoder whose futures never ended kept m0 analyze waiting forever, after the
    analysis, with nothing said. The clips left may go three times the timeout the encoder is
    given without one ending: then it is one line naming the plugin, and nothing published."""
    env = fake_dist("m0-hanging", HANGING_ENCODER, version="0.2")
    out = tmp_path / "out"
    started = time.monotonic()
    run = run_m0("analyze", str(wav), str(out), "--encoder", "hanging", "--no-report", "-q",
                 "-P", "encoder.timeout=1", env=env, timeout=60)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        'Error: plugin "m0-hanging" (encoder "hanging", from m0-hanging 0.2): finished none of '
        f"its {len(LOUD_AT)} clip(s) left for 3 s, 3 times the timeout it was given (1 s, -P "
        "encoder.timeout=S): a future submit() returned never ended"], run.stderr
    assert time.monotonic() - started < 30
    assert files(out) == []


# -- a third-party stage that forgets to return ------------------------------------------------

NO_RETURN = '''
from m0core import hookimpl


class Selector:
    def __init__(self, timeline, threshold=None):
        pass

    def feed(self, scores):
        pass  # return [] forgotten

    def finish(self):
        return []


class Writer:
    def write(self, result, out_dir):
        (out_dir / "notes.txt").write_text("written")  # return [path] forgotten


@hookimpl
def m0_register_selectors(register):
    register("noreturn", Selector)


@hookimpl
def m0_register_writers(register):
    register("noreturn", Writer)
'''


@pytest.mark.parametrize("option, problem", [
    ("--selector", "feed() returned None, not a list of highlights"),
    ("-f", "write() returned None, not a list of the paths it wrote"),
])
def test_a_stage_returning_nothing_is_one_line_saying_so(fake_dist, wav, tmp_path, option,
                                                         problem):
    """A selector's feed() or a writer's write() without its return statement was
    "TypeError: 'NoneType' object is not iterable": the plugin named, but not what it did
    (an encoder's renumber(): test_an_encoders_renumber_giving_back_other_clips_...)."""
    env = fake_dist("m0-noreturn", NO_RETURN, version="0.7")
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), option, "noreturn", "--no-clips",
                 "--no-report", "-q", env=env)
    assert run.returncode == 1
    kind = "writer" if option == "-f" else "selector"
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-noreturn" ({kind} "noreturn", from m0-noreturn 0.7): {problem}'], \
        run.stderr


def test_the_guides_pyproject_installs_the_plugin(tmp_path):
    """The guide's pyproject.toml, copied as it stands beside the example's module, did not
    install: 'configuration error: `project` must contain ['version'] properties'."""
    guide = (EXAMPLE.parent.parent / "plugins" / "README.md").read_text()
    block = re.search(r"```toml\n(# pyproject\.toml\n.*?)```", guide, re.S)
    assert block, "the guide no longer shows a pyproject.toml"
    package = tmp_path / "m0-brightness"
    package.mkdir()
    (package / "pyproject.toml").write_text(block.group(1))
    shutil.copy(EXAMPLE / "m0_brightness.py", package)
    site = tmp_path / "site"
    pip(sys.executable, "install", "--target", str(site), str(package))
    listed = run_m0("plugins", env=dict(os.environ, PYTHONPATH=str(site)))
    assert listed.returncode == 0, listed.stderr
    assert "brightness  (m0-brightness 0.1.0)" in listed.stdout


BAD_HOP = '''
import os

import numpy as np
from m0core import hookimpl


class Analyzer:
    """Its hop as M0_HOP says."""

    hop = {"zero": 0, "text": "0.1", "none": None, "nan": float("nan"),
           "tiny": 1e-5}[os.environ["M0_HOP"]]

    def feed(self, chunk):
        return np.zeros(0)


@hookimpl
def m0_register_analyzers(register):
    register("hop", Analyzer)
'''


_ABOVE_0 = "not a number of seconds above 0"


@pytest.mark.parametrize("hop, shown", [
    ("zero", f"0, {_ABOVE_0}"), ("text", f"'0.1', {_ABOVE_0}"), ("none", f"None, {_ABOVE_0}"),
    ("nan", f"nan, {_ABOVE_0}"),
    ("tiny", "1e-05 s, not from 0.01 to 10 s (the score curve is kept whole)")])
def test_an_analyzer_with_a_bad_hop_is_one_line_naming_it(fake_dist, wav, tmp_path, hop, shown):
    """An analyzer whose hop was 0 or NaN was blamed on the selector ('selector "standout":
    hop must be more than 0, not 0.0'); a hop of '0.1' was 'TypeError: type str doesn't define
    __round__ method' and None 'unexpected TypeError: float() argument must be ...', no
    plugin named. One of 10 µs (a value a sample) was taken: 2 billion values for 6 hours,
    kept whole for the report and the cache, where m0's own analyzers take 0.01 to 10 s."""
    env = dict(fake_dist("m0-hop", BAD_HOP, version="0.8"), M0_HOP=hop)
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--analyzer", "hop", "--no-clips",
                 "-q", env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-hop" (analyzer "hop", from m0-hop 0.8): built an Analyzer whose hop '
        f"is {shown}"], run.stderr


# -- a third-party selector's line() giving what is not a line --------------------------------

BAD_LINE = '''
import os

import numpy as np
from m0core import Line, hookimpl, plugins


class Selector:
    """standout's highlights; line() as M0_LINE says."""

    def __init__(self, timeline, threshold=None):
        self.inner = plugins.create("selectors", "standout", timeline=timeline,
                                    threshold=threshold)

    def feed(self, scores):
        return self.inner.feed(scores)

    def finish(self):
        return self.inner.finish()

    def line(self):
        how = os.environ["M0_LINE"]
        if how == "level":
            return -20.0
        if how == "tuple":
            return (1.0, np.array([-20.0]))
        if how == "nan":
            return Line(1.0, np.array([np.nan, -20.0]))
        if how == "step":
            return Line(0.0, np.array([-20.0]))
        return self.inner.line()


@hookimpl
def m0_register_selectors(register):
    register("liner", Selector)
'''


@pytest.mark.parametrize("how, problem", [
    ("level", "line() returned a value of type float, not an m0core.Line or None"),
    ("tuple", "line() returned a value of type tuple, not an m0core.Line or None"),
    ("nan", "line() returned a Line with 1 NaN or infinite level"),
    ("step", "line() returned a Line whose step is 0.0, not a number of seconds above 0"),
])
def test_a_selectors_line_that_is_no_line_is_one_line_naming_it(fake_dist, wav, tmp_path, how,
                                                                problem):
    """line() giving a level (a float) ended m0 with "unexpected AttributeError: 'float' object
    has no attribute 'step'", naming no plugin; a tuple, NaN levels or a step of 0 were taken
    without a word, the report drawing no line."""
    env = dict(fake_dist("m0-liner", BAD_LINE, version="0.9"), M0_LINE=how)
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--selector", "liner", "--no-clips", "-q",
                 env=env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f'Error: plugin "m0-liner" (selector "liner", from m0-liner 0.9): {problem}'], run.stderr
    assert files(out) == []
    fine = run_m0("analyze", str(wav), str(out), "--selector", "liner", "--no-clips", "-q",
                  env=dict(env, M0_LINE="inner"))
    assert fine.returncode == 0, fine.stderr


# -- a third-party analyzer that hangs ------------------------------------------------------

HANGING = '''
import os
import time

from m0core import hookimpl


class Hanging:
    """Says it has begun (M0_HANGING: a file), then never returns."""

    hop = 0.1

    def feed(self, chunk):
        with open(os.environ["M0_HANGING"], "w") as said:
            said.write("feeding")
        time.sleep(600)


@hookimpl
def m0_register_analyzers(register):
    register("hanging", Hanging)
'''


def test_a_stop_signal_ends_a_run_whose_analyzer_hangs_in_its_worker(fake_dist, wav,
                                                                     tmp_path):
    """SIGTERM (kill, docker stop) or SIGINT sent to 'm0 analyze' while a plugin's analyzer
    hung in a decoding worker left m0 waiting for that worker's next frame forever, however
    often it was sent: the reader thread was joined while it read the worker's pipe. (Only a
    terminal's Ctrl-C, reaching the worker too, ended it.) Leaving the read kills the
    worker."""
    import signal

    from procs import tagged_env, wait_for, wait_gone

    said = tmp_path / "feeding"
    env, tag = tagged_env(dict(fake_dist("m0-hanging", HANGING), M0_HANGING=str(said)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "m0core", "analyze", str(wav), str(tmp_path / "out"),
         "--analyzer", "hanging", "--jobs", "1", "--no-clips", "-q"], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(said.exists, 30, "the analyzer to hang")
        os.kill(proc.pid, signal.SIGTERM)  # m0 alone, not its worker
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["Error: interrupted"]
    assert not wait_gone(tag, 5)


# -- a third-party source that says it seeks exactly, and does not --------------------------

SEEKING = '''
import os

from m0core import hookimpl


class Source:
    """The built-in soundfile source, which seeks exactly; but for M0_GIVE."""

    exact_seek = True

    def __init__(self):
        from m0_plugins.soundfile_source import SoundfileSource

        self.inner = SoundfileSource()

    def probe(self, path):
        return self.inner.probe(path)

    def chunks(self, path, *, chunk_seconds=10.0, start=0.0, duration=None):
        give = os.environ["M0_GIVE"]
        start = 0.0 if give == "from 0" else start
        duration = None if give == "to the end" else duration
        return self.inner.chunks(path, chunk_seconds=chunk_seconds, start=start,
                                 duration=duration)


@hookimpl
def m0_register_sources(register):
    register("seeking", Source)
'''


@pytest.mark.parametrize("give, problem", [
    ("from 0", "gave a first chunk starting at 0 s when asked to start at 330 s"),
    ("to the end", r"gave a chunk ending at [\d.]+ s when asked for 330 s from 0 s"),
])
def test_a_source_not_seeking_as_asked_is_one_line_naming_it(fake_dist, make_media, tmp_path,
                                                            give, problem):
    """A source with exact_seek that read from the start of the file, or on to its end, for
    a segment decoded in parallel: the file was taken for twice its length (1320 s of an
    11-minute file) and its moments found again past its end, with exit 0."""
    path = make_media("quiet-11min.wav", "-f", "lavfi", "-i",
                      "anoisesrc=d=660:a=0.02:r=8000", "-ac", "1")
    env = dict(fake_dist("m0-seeking", SEEKING, version="0.1"), M0_GIVE=give)
    run = run_m0("analyze", str(path), str(tmp_path / "out"), "--source", "seeking", "--jobs",
                 "2", "--no-clips", "-q", env=env)
    assert run.returncode == 1
    assert re.fullmatch(r'Error: plugin "m0-seeking" \(source "seeking", from m0-seeking 0\.1\): '
                        + problem + r" \(chunks\(start=, duration=\) read that part only\)\n",
                        run.stderr), run.stderr


# -- a third-party plugin leaving a thread running -------------------------------------------

THREAD_LEFT = '''
import threading
import time

from m0core import hookimpl, plugins


def m0_threaded(**params):
    """The built-in top selector, with a thread (not a daemon) that never ends beside it."""
    threading.Thread(target=time.sleep, args=(600,), name="uploader").start()
    return plugins.create("selectors", "top", **params)


@hookimpl
def m0_register_selectors(register):
    register("threaded", m0_threaded)
'''


def test_a_thread_a_plugin_leaves_running_does_not_keep_m0_from_ending(fake_dist, wav,
                                                                     tmp_path):
    """'m0 analyze' wrote its outputs and then never ended: Python waited at exit for the
    thread (not a daemon) a plugin had started; SIGTERM then printed 'Exception ignored in:
    <module 'threading'> ... KeyboardInterrupt'. It ends, naming the thread."""
    env = fake_dist("m0-threaded", THREAD_LEFT)
    out = tmp_path / "out"
    run = run_m0("analyze", str(wav), str(out), "--selector", "threaded", "--no-clips", "-q",
                 env=env, timeout=20)
    assert run.returncode == 0
    assert run.stderr.splitlines() == [
        "Warning: thread uploader is still running (a plugin's?): m0 ends without waiting for "
        "it"]
    assert (out / "highlights.json").is_file()


def test_a_thread_a_plugin_leaves_running_does_not_hold_a_batch_job(fake_dist, wav, tmp_path):
    """A batch job whose plugin left a thread running sent its result, and its process then
    waited for the thread until the batch killed it 10 s later (STOP_GRACE) for each job."""
    env = fake_dist("m0-threaded", THREAD_LEFT)
    out = tmp_path / "out"
    run = run_m0("batch", str(wav), str(out), "--selector", "threaded", "--no-clips", "-q",
                 env=env, timeout=8)
    assert run.returncode == 0, run.stderr
    assert (out / "vod_highlights" / "highlights.json").is_file()
