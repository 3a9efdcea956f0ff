"""No shell, input names that are never options or protocols, output names from numbers only,
a cache that never unpickles, and the safe mode documented."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
from conftest import run_m0

import m0core
from m0_plugins.ffmpeg_encoder import clip_name
from m0core.batch.runner import job_folders
from m0core.model import Highlight
from m0core.pipeline import cache

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("m0core", "m0_plugins") for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("pattern", [r"shell\s*=\s*True", r"\bos\.system\(", r"\bos\.popen\(",
                                     r"\bpickle\b", r"\bmarshal\b", r"\bshelve\b"])
def test_no_shell_and_no_unpickling_in_the_source(pattern):
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in SOURCES
            for n, line in enumerate(p.read_text().splitlines(), 1) if re.search(pattern, line)]
    assert SOURCES and hits == []


LITERAL_NAMES = ["concat:a.wav|b.wav", "-i.wav", "http:x.wav", "subfile,,start,0,end,0,,:x.wav",
                 "file:y.wav"]


@pytest.mark.parametrize("source", ["pyav", "ffmpeg"])
def test_input_names_are_never_options_or_protocols(source, make_media, tmp_path):
    """Each file is silent but for one burst; ``a.wav`` and ``b.wav`` beside it are loud all
    through, so reading them instead (concat:, subfile) would show."""
    burst = make_media("sec_burst.wav", "-f", "lavfi", "-i",
                       "anoisesrc=a=0.02:d=15:r=8000,volume='1+25*between(t,5,7)':eval=frame")
    loud = make_media("sec_loud.wav", "-f", "lavfi", "-i", "sine=f=300:d=40:r=8000")
    for name in ("a.wav", "b.wav", "x.wav"):
        shutil.copy(loud, tmp_path / name)
    for name in LITERAL_NAMES:
        shutil.copy(burst, tmp_path / name)
        out = f"out-{LITERAL_NAMES.index(name)}"
        run = run_m0("analyze", "-q", "--no-report", "--source", source, "--", name, out,
                     cwd=tmp_path)
        assert run.returncode == 0, (name, run.stderr)
        doc = json.loads((tmp_path / out / "highlights.json").read_text())
        assert doc["source"]["duration"] == pytest.approx(15, abs=0.1), name
        [highlight] = doc["highlights"]
        assert 5 <= highlight["peak_time"] <= 7 and (tmp_path / out / highlight["clip"]).is_file()


def test_clip_names_come_from_numbers_only():
    odd = Highlight(float("nan"), 5.0, float("inf"), float("-inf"), 1.0, index=3)
    for h in (odd, Highlight(1.0, 9.0, 5.0, -6.0, 1.0, index=1)):
        name = clip_name(h, ".mp4")
        assert re.fullmatch(r"\d{2,}_\d+h\d\dm\d\ds(_-?\d+\.\ddB|_silent)?\.mp4", name), name
        assert "/" not in name and ".." not in name.removesuffix(".mp4")


def test_metadata_never_names_an_output(make_media, tmp_path):
    tagged = make_media("sec_tagged.m4a", "-f", "lavfi", "-i",
                        "anoisesrc=a=0.02:d=15,volume='1+25*between(t,5,7)':eval=frame",
                        "-metadata", "title=../../evil", "-metadata", "artist=/etc/passwd",
                        "-c:a", "aac")
    out = tmp_path / "deep" / "out"
    result = m0core.analyze(tagged, out, formats=("csv", "chapters"))
    assert result.highlights
    assert all(p.resolve().is_relative_to(out.resolve()) for p in tmp_path.rglob("*")
               if p not in (out, out.parent))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]


@pytest.mark.parametrize("stem", ["../../evil", "..", "a/../../b", "/etc/passwd"])
def test_batch_folders_stay_in_out_dir(stem, tmp_path):
    out = tmp_path / "out"
    inputs = [tmp_path / "in" / f"{stem}.mp4", tmp_path / "in" / "x" / f"{stem}.mp4"]
    for folder in job_folders(inputs, out).values():
        assert folder.parent == out.resolve() and folder.name.endswith("_highlights")
        assert ".." != folder.name and "/" not in folder.name


def test_a_crafted_cache_entry_is_ignored(wav, own_cache, tmp_path):
    """An entry whose data is a pickle that would make a file when unpickled: m0 never
    unpickles, so the file is not made; the entry fails its check and is re-analysed."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    m0core.analyze(wav, None, clips=False)
    [meta_file] = own_cache.glob("*.json")
    meta = json.loads(meta_file.read_text())
    data = pickle.dumps(Evil())
    meta.update(sha256=hashlib.sha256(data).hexdigest(), count=len(data) // 4 + 1)
    meta_file.write_text(json.dumps(meta))
    meta_file.with_suffix(cache.SUFFIX_DATA).write_bytes(data)
    meta_file.with_suffix(".pkl").write_bytes(data)
    result = m0core.analyze(wav, None, clips=False)
    assert result.timings["cached"] == 0.0 and result.highlights
    assert not marker.exists()


def test_safe_mode_is_documented_and_loads_built_ins_only(fake_dist, vod, tmp_path):
    doc = (ROOT / "docs" / "security.md").read_text()
    assert "M0_LOAD_PLUGINS=''" in doc and "shell=True" in doc
    env = fake_dist("m0-evil", "raise SystemExit('a third-party plugin ran')\n")
    env["M0_LOAD_PLUGINS"] = ""
    run = run_m0("plugins", "--all", "--json", env=env)
    assert run.returncode == 0, run.stderr
    [evil] = [p for p in json.loads(run.stdout) if not p["builtin"]]
    assert evil["name"] == "m0-evil" and evil["disabled"] and not evil["error"]
    assert "a third-party plugin ran" not in run.stderr


def test_every_promise_names_tests_that_exist():
    """docs/security.md's table of promises points at the tests that check them."""
    doc = (ROOT / "docs" / "security.md").read_text()
    named = set(re.findall(r"`(test_\w+\.py)`", doc))
    assert {"test_reruns.py", "test_cache_trust.py", "test_gui_and_batch.py"} <= named
    for name in named:
        assert (ROOT / "tests" / "reliability" / name).is_file(), name
