"""The analysis cache: a re-run decodes nothing; damaged or stale entries are never trusted."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest
from conftest import run_m0, stop_when_made

import m0core
from m0_plugins.ffmpeg_source import FFmpegSource
from m0_plugins.selectors import Standout


@pytest.fixture
def no_decoding(monkeypatch):
    """Make any decoding fail, to prove a run did not decode."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("decoded although the analysis is cached")

    monkeypatch.setattr(FFmpegSource, "chunks", refuse)
    monkeypatch.setattr(FFmpegSource, "probe", refuse)


def test_rerun_with_other_selection_settings_decodes_nothing(vod, tmp_path, request):
    first = m0core.analyze(vod, None, clips=False)
    assert first.timings["cached"] == 0.0
    request.getfixturevalue("no_decoding")
    for overrides in ({}, {"threshold": -30.0, "selector": "crest"}, {"clip_length": 10},
                      {"selector": "top", "max_clips": 1}):
        again = m0core.analyze(vod, None, clips=False, **overrides)
        assert again.timings["cached"] == 1.0
        assert again.media == first.media
    assert (m0core.analyze(vod, None, clips=False).scores == first.scores).all()


def test_clips_from_a_cached_analysis(vod, tmp_path):
    m0core.analyze(vod, None, clips=False)
    result = m0core.analyze(vod, tmp_path)
    assert result.timings["cached"] == 1.0
    assert all(c.ok for c in result.clips) and len(result.clips) == 2


def test_no_cache_and_other_analyzer_params_decode_again(vod):
    m0core.analyze(vod, None, clips=False)
    assert m0core.analyze(vod, None, clips=False, cache=False).timings["cached"] == 0.0
    other = m0core.analyze(vod, None, clips=False, analyzer_params={"hop": 0.2})
    assert other.timings["cached"] == 0.0 and len(other.scores) == 300


def test_changed_file_is_not_served_from_the_cache(wav, tmp_path):
    copy = tmp_path / "a.wav"
    copy.write_bytes(wav.read_bytes())
    m0core.analyze(copy, None, clips=False)
    os.utime(copy, ns=(1_000_000_000, 1_000_000_000))
    assert m0core.analyze(copy, None, clips=False).timings["cached"] == 0.0


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "bad json", "other identity"])
def test_damaged_entry_is_ignored_and_rewritten(vod, own_cache, damage):
    first = m0core.analyze(vod, None, clips=False)
    [meta] = own_cache.glob("*.json")
    data = meta.with_suffix(".f32")
    if damage == "flip a byte":
        raw = bytearray(data.read_bytes())
        raw[100] ^= 0xFF
        data.write_bytes(bytes(raw))
    elif damage == "truncate":
        data.write_bytes(data.read_bytes()[:-4])
    elif damage == "bad json":
        meta.write_text("{not json")
    else:
        doc = json.loads(meta.read_text())
        doc["identity"]["file"]["size"] += 1
        meta.write_text(json.dumps(doc))
    second = m0core.analyze(vod, None, clips=False)
    assert second.timings["cached"] == 0.0
    assert (second.scores == first.scores).all()
    assert m0core.analyze(vod, None, clips=False).timings["cached"] == 1.0


def test_cache_commands(vod, own_cache):
    """They count and remove m0's own files only, even in a folder shared with others (a
    settings.json, an output folder's highlights.json, another tool's files named by a SHA-1
    as m0 names its own, which m0 cache clear deleted), and the temporaries of ended runs."""
    m0core.analyze(vod, None, clips=False)
    sha1 = "3f786850e387550fdab836ed7e6dc881de23001b"
    theirs = {"settings.json": "{}", "highlights.json": "{}", "notes.f32": "x",
              f"{sha1}.json": '{"identity": {"user": 1}}', f"{sha1}.f32": "x",
              f"{sha1[::-1]}.sel": "{}", f"{sha1[::-1]}.seen": "x"}
    for name, text in theirs.items():
        (own_cache / name).write_text(text)
    (own_cache / ".partial-999999999-ab12cd34-x.json").write_text("{}")  # its run has ended
    info = json.loads(run_m0("cache", "info", "--json").stdout)
    assert info["folder"] == str(own_cache) and info["entries"] == 1 and info["bytes"] > 2000
    cleared = run_m0("cache", "clear")
    assert cleared.returncode == 0 and "Removed 1 cached analysis." in cleared.stdout
    assert sorted(p.name for p in own_cache.iterdir()) == sorted(theirs)


def test_cache_info_says_a_small_cache_s_size_as_it_is(vod, own_cache):
    """m0 cache info said '1 analysis, 1 selection kept with them, 0.0 MB' of a cache that
    held some KB (a minute's analysis; an hour's is under 1 MB): it looked empty, or broken.
    It says its KB, MB as before from 1 MB."""
    from m0core.cli.console import size

    m0core.analyze(vod, None, clips=False)
    info = json.loads(run_m0("cache", "info", "--json").stdout)
    shown = run_m0("cache", "info").stdout.strip()
    assert shown.endswith(f", {round(info['bytes'] / 1024)} KB"), (shown, info)
    assert [size(n) for n in (0, 1, 1023, 1024, 5 * 2**20 + 2**19, 3 * 2**30)] \
        == ["0 bytes", "1 byte", "1023 bytes", "1 KB", "5.5 MB", "3.0 GB"]


def test_a_cache_that_cannot_be_cleared_is_one_line(vod, own_cache):
    """An entry's data replaced by a folder with something in it: not deleted, one line."""
    m0core.analyze(vod, None, clips=False)
    [blocked] = own_cache.glob("*.f32")
    blocked.unlink()
    blocked.mkdir()
    (blocked / "keep").write_text("x")
    cleared = run_m0("cache", "clear")
    assert cleared.returncode == 1 and "Traceback" not in cleared.stderr
    assert cleared.stderr.startswith(f"Error: {own_cache}: cannot clear the cache (")
    assert len(cleared.stderr.strip().splitlines()) == 1 and (blocked / "keep").is_file()


def test_unwritable_cache_is_not_an_error(vod, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("M0_CACHE_DIR", str(blocker / "cache"))
    assert m0core.analyze(vod, None, clips=False).highlights


@pytest.fixture
def selections_made(monkeypatch):
    """Each selection the ``standout`` selector finished (it still selects as it does); not
    the selections of the loose ``standout``s inside it, which its check and second look
    listen to."""
    calls = []
    finish = Standout.finish

    def counted(self):
        inner = [made._loose for made in calls] + \
            [made._second._loose for made in calls if made._second is not None]
        if not any(self is loose for loose in inner):
            calls.append(self)
        return finish(self)

    monkeypatch.setattr(Standout, "finish", counted)
    return calls


def _same(a, b) -> bool:
    return a.highlights == b.highlights and a.line.step == b.line.step and \
        (a.line.values == b.line.values).all()


def test_a_rerun_with_the_same_options_replays_the_selection(vod, own_cache, selections_made):
    m0core.analyze(vod, None, clips=False)  # decodes
    selected = m0core.analyze(vod, None, clips=False)  # selects on the cached curve, keeps it
    assert len(selections_made) == 2 and len(list(own_cache.glob("*.sel"))) == 1
    replayed = m0core.analyze(vod, None, clips=False)
    assert len(selections_made) == 2 and replayed.timings["cached"] == 1.0
    assert _same(replayed, selected) and replayed.highlights
    fewer = m0core.analyze(vod, None, clips=False, max_clips=1)  # chosen after the selector
    best = max(selected.highlights, key=lambda h: h.score)
    # the kept one is numbered 1 of 1 (the best may be the second in time)
    assert len(selections_made) == 2 and fewer.highlights == (replace(best, index=1),)


@pytest.mark.parametrize("change", [
    {"threshold": -30.0}, {"sensitivity": 0.8}, {"min_gap": 30.0}, {"clip_length": 10.0},
    {"selector_params": {"margin_db": 8.0}}])
def test_a_changed_option_selects_again(vod, selections_made, change):
    m0core.analyze(vod, None, clips=False)
    m0core.analyze(vod, None, clips=False)  # kept with the default options
    fresh = m0core.analyze(vod, None, clips=False, **change)
    assert len(selections_made) == 3
    again = m0core.analyze(vod, None, clips=False, **change)
    assert len(selections_made) == 3 and _same(again, fresh)


@pytest.mark.parametrize("damage", ["bad json", "a time a string", "a time past the end",
                                    "another identity", "huge"])
def test_a_damaged_selection_is_ignored_and_rewritten(vod, own_cache, selections_made, damage):
    m0core.analyze(vod, None, clips=False)
    selected = m0core.analyze(vod, None, clips=False)
    [kept] = own_cache.glob("*.sel")
    valid = kept.read_text()
    doc = json.loads(valid)
    if damage == "bad json":
        doc = "{not json"
    elif damage == "a time a string":
        doc["highlights"][0]["start"] = "0"
    elif damage == "a time past the end":
        doc["highlights"][0]["end"] = 1e6
    elif damage == "another identity":
        doc["identity"]["threshold"] = -10.0
    else:
        doc["padding"] = "x" * (8 * 1024 * 1024)
    kept.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    again = m0core.analyze(vod, None, clips=False)
    assert len(selections_made) == 3 and _same(again, selected)
    assert kept.read_text() == valid


PICK = """
import os
from m0core import hookimpl
from m0core.model import Highlight

LOUDEST = {n}


class Pick:
    \"\"\"The LOUDEST loudest values, each a highlight; logs every selection it makes.\"\"\"

    def __init__(self, timeline, threshold=None):
        self.timeline, self.scores = timeline, []

    def feed(self, scores):
        self.scores += [float(s) for s in scores]
        return []

    def finish(self):
        with open(os.environ["PICK_LOG"], "a") as log:
            log.write("selected\\n")
        best = sorted(range(len(self.scores)), key=self.scores.__getitem__)[-LOUDEST:]
        t = self.timeline
        return [Highlight(*t.window(t.time(i)), t.time(i), self.scores[i], 1.0)
                for i in sorted(best)]


@hookimpl
def m0_register_selectors(register):
    register("pick", Pick)
"""


def test_an_edited_selector_selects_again(fake_dist, wav, tmp_path):
    """A third party's selector: kept like a built-in's, and an edit of its code (no new
    version) is a new selection."""
    env = fake_dist("m0-pick", PICK.format(n=2))
    env["PICK_LOG"] = str(tmp_path / "log")

    def peaks() -> list[float]:
        run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--selector", "pick",
                     "--no-clips", "--no-report", "--json", env=env)
        assert run.returncode == 0, run.stderr
        return [h["peak_time"] for h in json.loads(run.stdout)["highlights"]]

    def selected() -> int:
        return len((tmp_path / "log").read_text().splitlines())

    first, kept = peaks(), peaks()  # decodes; selects on the cached curve and keeps it
    assert selected() == 2 and kept == first and len(kept) == 2
    assert peaks() == kept and selected() == 2
    (tmp_path / "site" / "m0_pick.py").write_text(PICK.format(n=3) + "# edited\n")
    assert len(peaks()) == 3 and selected() == 3


def test_a_cache_whose_description_cannot_be_written_keeps_no_curve(vod, own_cache,
                                                                     monkeypatch):
    """A full disk that takes the curve but not its description: before, the curve file stayed
    (144 KB for an hour, 864 KB for 6 h), never read, holding the room the next run's entry
    needed; now nothing of the entry is left, and the run completes uncached."""
    import errno

    from m0core import outputs
    from m0core.pipeline.cache import SUFFIX_META

    real = outputs.write_text_atomic

    def full_for_descriptions(path, text, *args, **kwargs):
        if str(path).endswith(SUFFIX_META):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, text, *args, **kwargs)

    monkeypatch.setattr(outputs, "write_text_atomic", full_for_descriptions)
    result = m0core.analyze(vod, None, clips=False)
    assert result.highlights and result.timings["cached"] == 0.0
    left = [p.name for p in own_cache.iterdir() if not p.name.endswith(".seen")]
    assert left == []
    monkeypatch.setattr(outputs, "write_text_atomic", real)
    m0core.analyze(vod, None, clips=False)
    assert m0core.analyze(vod, None, clips=False).timings["cached"] == 1.0


def test_a_stop_while_the_spectra_spool_is_made_leaves_no_file(own_cache, monkeypatch):
    """Ctrl-C that lands just after the temporary file the spectra are spooled to is made
    (:mod:`tempfile` made it before handing it over) leaves nothing in the cache once the run
    discards its spool, as a stopped run does."""
    import numpy as np

    from m0core.judge import spectra
    from m0core.pipeline import cache

    spool = cache.Spool()
    stop_when_made(monkeypatch, "-spectra")
    with pytest.raises(KeyboardInterrupt):
        spool.write(np.zeros((4, spectra.BANDS), dtype=np.uint8), 0)
    monkeypatch.undo()
    spool.discard()
    assert list(own_cache.iterdir()) == []
