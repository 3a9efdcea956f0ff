"""The analysis cache: a re-run decodes nothing; damaged or stale entries are never trusted."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_m0

import m0core
from m0_plugins.ffmpeg_source import FFmpegSource


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
    m0core.analyze(vod, None, clips=False)
    info = json.loads(run_m0("cache", "info", "--json").stdout)
    assert info["folder"] == str(own_cache) and info["entries"] == 1 and info["bytes"] > 2000
    cleared = run_m0("cache", "clear")
    assert cleared.returncode == 0 and "Removed 1" in cleared.stdout
    assert list(own_cache.iterdir()) == []


def test_unwritable_cache_is_not_an_error(vod, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("M0_CACHE_DIR", str(blocker / "cache"))
    assert m0core.analyze(vod, None, clips=False).highlights
