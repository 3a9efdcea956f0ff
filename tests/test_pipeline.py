"""The library API end to end: m0core.analyze on real media, outputs, failure clean-up."""

from __future__ import annotations

import json

import numpy as np
import psutil
import pytest
from conftest import LOUD_AT

import m0core
from m0core import hookimpl
from m0core.errors import InputError, OptionError, PluginError
from m0core.pipeline.streaming import ReadAhead


def _near(times, targets, tol=2.5):
    return all(any(abs(t - x) <= tol for t in times) for x in targets)


def test_analyze_finds_the_loud_moments_and_cuts_clips(vod, tmp_path):
    result = m0core.analyze(vod, tmp_path, workers=2)
    peaks = [h.peak_time for h in result.highlights]
    assert len(peaks) == len(LOUD_AT) and _near(peaks, LOUD_AT), peaks
    assert [h.index for h in result.highlights] == [1, 2]
    for h in result.highlights:
        clip = result.clip_for(h)
        assert clip.ok and clip.path.endswith(".mp4")
        assert h.start <= h.peak_time <= h.end and h.end - h.start == pytest.approx(30)
    doc = json.loads((tmp_path / "highlights.json").read_text())
    assert doc["schema"] == "m0.highlights/1"
    assert doc["source"]["duration"] == pytest.approx(60, abs=0.1)
    assert doc["analyzer"] == {"name": "rms-streaming", "params": {}, "hop": 0.1}
    assert doc["selector"]["name"] == "standout"
    row = doc["highlights"][0]
    assert set(row) >= {"index", "start", "end", "peak_time", "peak_db", "score", "kind", "clip"}
    assert (tmp_path / row["clip"]).is_file()
    index = json.loads((tmp_path / "index.json").read_text())
    key = str(int(row["peak_time"]))
    assert index[key]["decibel"] == pytest.approx(row["peak_db"], abs=0.01)
    assert index[key]["position"] == f"0:00:{int(row['peak_time']):02d}"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert result.scores.shape == (600,)


def test_index_json_lists_every_highlight_when_two_peak_in_one_second(vod, tmp_path):
    """``--min-gap`` under a second: the seed's keys (whole seconds) would collide."""
    result = m0core.analyze(vod, tmp_path, selector="top", selector_params={"count": 20},
                            min_gap=0.3, clips=False, report=False)
    seconds = [int(h.peak_time) for h in result.highlights]
    assert len(set(seconds)) < len(seconds), "the test needs two peaks in one second"
    index = json.loads((tmp_path / "index.json").read_text())
    assert len(index) == len(result.highlights)
    for h in result.highlights:
        assert any(v["decibel"] == round(h.peak_db, 2) and abs(float(k) - h.peak_time) < 1
                   for k, v in index.items())


def test_clip_windows_stay_inside_the_file(vod, tmp_path):
    result = m0core.analyze(vod, None, clip_length=50)
    assert result.highlights
    for h in result.highlights:
        assert 0 <= h.start and h.end <= 60.0 + 1e-6
        assert h.end - h.start == pytest.approx(50)


def test_no_clips_and_max_clips(vod, tmp_path):
    result = m0core.analyze(vod, tmp_path, clips=False, max_clips=1)
    assert len(result.highlights) == 1 and result.clips == ()
    assert not list(tmp_path.glob("*.mp4"))
    best = max(m0core.analyze(vod, None, clips=False).highlights, key=lambda h: h.score)
    assert result.highlights[0].peak_time == best.peak_time


def test_max_clips_from_json_as_a_float_keeps_the_best(vod):
    """``max_clips=1.0`` (a count read from JSON) is 1: the best, not a TypeError after the
    whole analysis."""
    assert m0core.Options(max_clips=1.0).max_clips == 1
    result = m0core.analyze(vod, None, clips=False, max_clips=1.0)
    best = max(m0core.analyze(vod, None, clips=False).highlights, key=lambda h: h.score)
    assert [h.peak_time for h in result.highlights] == [best.peak_time]


def test_streaming_and_legacy_give_the_same_highlights(vod):
    streaming = m0core.analyze(vod, None, analyzer="rms-streaming")
    legacy = m0core.analyze(vod, None, analyzer="rms-legacy")
    def key(h):
        return h.index, h.start, h.end, h.peak_time, h.kind, round(h.peak_db, 3)

    assert [key(h) for h in streaming.highlights] == [key(h) for h in legacy.highlights]
    np.testing.assert_allclose(streaming.scores, legacy.scores, atol=1e-3)


def test_silence_gives_no_highlights(make_media, tmp_path):
    quiet = make_media("silence.wav", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono",
                       "-t", "20")
    result = m0core.analyze(quiet, tmp_path)
    assert result.highlights == ()
    assert json.loads((tmp_path / "highlights.json").read_text())["highlights"] == []


@pytest.mark.parametrize("overrides", [
    {"threshold": float("nan")}, {"clip_length": -3}, {"max_clips": 0}, {"workers": 0},
    {"cut": "sideways"}, {"pre": 40}, {"colour": "red"},
])
def test_bad_options(vod, overrides):
    with pytest.raises(OptionError):
        m0core.analyze(vod, None, **overrides)


@pytest.mark.parametrize("overrides", [
    {"sensitivity": 0.2, "selector_params": {"sensitivity": 0.9}},
    {"selector": "top", "max_clips": 5, "selector_params": {"max_clips": 3}},
])
def test_an_option_given_also_as_a_selector_parameter_is_one_error(vod, overrides):
    """``-s 0.2 -P selector.sensitivity=0.9`` ran at 0.9 and ignored ``-s`` without a word."""
    name = next(iter(overrides["selector_params"]))
    with pytest.raises(OptionError, match=f"{name} is given twice"):
        m0core.analyze(vod, None, clips=False, **overrides)


def test_options_as_a_dict_are_one_option_error(vod, tmp_path):
    with pytest.raises(OptionError, match="options must be an Options .*not dict"):
        m0core.analyze(vod, tmp_path / "out", {"max_clips": 1})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path, out_dir, says", [
    ("{vod}", "", "out_dir is empty (an unset variable?): give a path, '.' for the current "
                  "folder"),
    ("{vod}", " ", "out_dir is empty"),
    ("", "out", "path is empty (an unset variable?): give a path"),
    (None, "out", "path must be a path (a str or pathlib.Path), not None"),
    (b"vod.mp4", "out", "path must be a path (a str or pathlib.Path), not b'vod.mp4'"),
    ("{vod}", 7, "out_dir must be a path (a str or pathlib.Path), not 7"),
])
def test_an_empty_path_or_one_that_is_no_path_is_one_option_error(vod, tmp_path, monkeypatch,
                                                                   path, out_dir, says):
    """``m0core.analyze(vod, os.environ.get("OUT", ""))`` wrote its clips, report and JSON into
    the current folder (``Path("")`` is ``.``), as ``m0 analyze vod.mp4 "$OUT"`` did before
    the CLI refused it; a path of bytes was ``AttributeError: 'bytes' object has no attribute
    'encode'``, a number or None a ``TypeError`` from ``os.fspath``."""
    monkeypatch.chdir(tmp_path)
    path = path.format(vod=vod) if isinstance(path, str) else path
    with pytest.raises(OptionError) as raised:
        m0core.analyze(path, out_dir)
    assert str(raised.value).startswith(says)
    assert list(tmp_path.iterdir()) == []


def test_an_error_naming_a_path_with_a_line_break_is_one_line(tmp_path, monkeypatch):
    """``for line in open("list.txt"): m0core.analyze(line, ...)`` raised an error of two
    lines, ``vod.mp4`` and ``: no such file``, that a log of one line per entry split: an
    M0Error's message escapes control characters, as the CLI's line does."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as raised:
        m0core.analyze("vod.mp4\n", None)
    assert str(raised.value) == "vod.mp4\\n: no such file"
    assert raised.value.args == ("vod.mp4\n: no such file",)  # what was raised, as it was


@pytest.mark.parametrize("overrides", [
    {"clips": "no"}, {"report": "false"}, {"cache": None}, {"compilation": "yes"},
])
def test_a_flag_that_is_not_a_bool_is_one_option_error(vod, tmp_path, overrides):
    """``clips="no"`` (read from a config file, say) cut every clip: any value was taken as
    Python takes its truth."""
    name = next(iter(overrides))
    with pytest.raises(OptionError, match=f"{name} must be True or False"):
        m0core.analyze(vod, tmp_path / "out", **overrides)
    assert not (tmp_path / "out").exists()
    assert m0core.Options(clips=0, report=1).clips is False
    assert m0core.Options(clips=np.False_).clips is False  # numpy's bool is a bool


@pytest.mark.parametrize("overrides, says", [
    ({"formats": None}, "formats must be a list of writer names, not None"),
    ({"formats": (f for f in ["csv"])}, "formats must be a list of writer names, not <gen"),
    ({"selector_params": None}, "selector_params must be a dict of parameters by name, not None"),
    ({"analyzer_params": [1]}, "analyzer_params must be a dict of parameters by name, not [1]"),
    ({"encoder_params": "timeout=5"}, "encoder_params must be a dict"),
    ({"source_params": {1: 2}}, "source_params must be a dict of parameters by name, not {1: 2}"),
])
def test_formats_or_stage_parameters_of_another_type_are_one_option_error(vod, tmp_path,
                                                                          overrides, says):
    """``formats=None`` or ``selector_params=None`` (a config file's empty entry) was a
    ``TypeError: 'NoneType' object is not iterable``, a list a ``TypeError`` from ``dict()``;
    formats given as a generator were used up by the check and no format was written."""
    with pytest.raises(OptionError) as raised:
        m0core.analyze(vod, tmp_path / "out", **overrides)
    assert str(raised.value).startswith(says)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("overrides", [
    {"threshold": True}, {"sensitivity": False}, {"clip_length": np.True_},
])
def test_a_bool_for_a_number_is_one_option_error(vod, overrides):
    """``threshold=True`` (the seed's ``decibel_threshold=True``, meaning "use one") ran at
    1 dBFS and found nothing, ``sensitivity=False`` ran at 0: Python takes a bool for 1 or 0."""
    name, value = next(iter(overrides.items()))
    with pytest.raises(OptionError, match=f"^{name} must be a number, not {value!r}$"):
        m0core.analyze(vod, None, **overrides)


def test_numpy_numbers_are_numbers(vod):
    """``max_clips=np.int64(1)`` (a count from numpy) was ``max_clips must be a whole number,
    not np.int64(1)``; so were ``workers``, ``height`` and ``audio_track``; a float32 was
    taken, then could not be written."""
    opts = m0core.Options(max_clips=np.int64(1), workers=np.int32(2), audio_track=np.int64(1),
                          aspect="9:16", height=np.int64(720))
    assert (opts.max_clips, opts.workers, opts.audio_track) == (1, 2, 1)
    assert type(opts.max_clips) is int and type(opts.audio_track) is int
    assert len(m0core.analyze(vod, None, max_clips=np.int64(1)).highlights) == 1
    # numpy's float32 (not a float) was taken, then highlights.json could not be written:
    # "TypeError: Object of type float32 is not JSON serializable" after the analysis
    floats = {"threshold": np.float32(-30), "sensitivity": np.float32(0.5),
              "clip_length": np.float32(20), "loudness": np.float32(-14),
              "fade": np.float32(0.5), "min_gap": np.float32(5)}
    held = m0core.Options(**floats).to_dict()
    assert {name: type(held[name]) for name in floats} == dict.fromkeys(floats, float)
    assert json.loads(json.dumps(held))["threshold"] == -30.0
    with pytest.raises(OptionError, match="max_clips must be a whole number"):
        m0core.Options(max_clips=np.float64(1.5))


def test_audio_less_file_is_an_input_error(video_only, tmp_path):
    with pytest.raises(InputError, match="no audio"):
        m0core.analyze(video_only, tmp_path / "out")
    assert not (tmp_path / "out").exists()


class _Exploding:
    """A selector that gives one highlight, then fails mid-stream."""

    def __init__(self, timeline, threshold=None):
        self.timeline, self.calls = timeline, 0

    def feed(self, scores):
        self.calls += 1
        if self.calls == 1:
            start, end = self.timeline.window(5.0)
            return [m0core.Highlight(start, end, 5.0, -10.0, 10.0, "test")]
        if self.calls == 2:  # fed 30 s at a time at most (run.SELECT_SECONDS)
            raise PluginError("exploding selector failed mid-stream")
        return []

    def finish(self):
        return []


class _ExplodingPlugin:
    @hookimpl
    def m0_register_selectors(self, register):
        register("exploding", _Exploding)


def test_failure_mid_stream_leaves_nothing_behind(vod, tmp_path, register_plugin):
    register_plugin(_ExplodingPlugin(), "exploding-plugin")
    with pytest.raises(PluginError, match="exploding"):
        m0core.analyze(vod, tmp_path, selector="exploding", chunk_seconds=2.0)
    assert [p.name for p in tmp_path.iterdir()] == []
    assert not psutil.Process().children(recursive=True)


def test_read_ahead_reraises_and_joins():
    def numbers():
        yield 1
        yield 2
        raise ValueError("reader broke")

    seen = []
    with pytest.raises(ValueError, match="reader broke"):
        with ReadAhead(numbers, maxsize=1) as items:
            seen.extend(items)
    assert seen == [1, 2]


def test_read_ahead_stops_a_long_producer_early():
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    with ReadAhead(endless, maxsize=2) as items:
        for i in items:
            if i == 10:
                break
    assert closed == [True]
