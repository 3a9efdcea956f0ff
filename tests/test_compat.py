"""The seed's Python names keep working as the seed documents them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import LOUD_AT

from m0core import (
    AudioAnalysis,
    AudioProcessor,
    ClipResult,
    Highlight,
    OptimizedClipGenerator,
    OptionError,
    StreamingAudioAnalysis,
    StreamingAudioProcessor,
)


def test_streaming_processor(vod):
    processor = StreamingAudioProcessor(vod, chunk_duration=30.0)
    assert processor.duration == pytest.approx(60, abs=0.1)
    assert processor.sample_rate == 48000
    chunks = list(processor.stream_chunks())
    assert [offset for _, offset in chunks] == [0.0, 30.0]
    assert all(c.dtype == np.float32 and c.ndim == 1 for c, _ in chunks)
    levels = list(processor.decibel_iter())
    assert len(levels) == 600 and levels[0][0] == pytest.approx(0.05)
    loudest = max(levels, key=lambda x: x[1])[0]
    assert any(abs(loudest - t) < 2 for t in LOUD_AT)
    assert 10 < processor.get_memory_usage() < 2000


def test_the_duration_of_a_file_that_declares_none_is_its_audios(make_media):
    """A recorder's WebM, written as a stream, declares no duration: the processor's
    ``duration`` was 0.0 for its 7 s of audio (``m0 analyze`` measures it)."""
    live = make_media("live-7s.webm", "-f", "lavfi", "-i", "sine=d=7", "-c:a", "libopus",
                      "-f", "webm", "-live", "1")
    for processor in (StreamingAudioProcessor(live), AudioProcessor(live)):
        assert processor.info.duration is None
        assert processor.duration == pytest.approx(7.0, abs=0.05)


def test_whole_file_processor_matches_streaming(vod):
    legacy = AudioProcessor(vod)
    assert len(legacy.audio) == pytest.approx(60 * 48000, abs=2000)
    [(whole, offset)] = list(legacy.stream_chunks())
    assert offset == 0.0 and len(whole) == len(legacy.audio)
    a = np.array([v for _, v in legacy.decibel_iter()])
    b = np.array([v for _, v in StreamingAudioProcessor(vod).decibel_iter()])
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_analysis_export_and_clips(vod, tmp_path):
    analysis = StreamingAudioAnalysis(vod, StreamingAudioProcessor(vod), tmp_path,
                                      decibel_threshold=-25.0)
    assert analysis.highlights and all(h.kind in {"spike", "dynamic", "sustained"}
                                       for h in analysis.highlights)
    index = analysis.export()
    assert json.loads((tmp_path / "index.json").read_text()) == index
    paths = analysis.generate_all_highlights(max_workers=2)
    assert len(paths) == len(analysis.highlights)
    doc = json.loads((tmp_path / "highlights.json").read_text())
    assert [r["clip"] for r in doc["highlights"]] == [p.rsplit("/", 1)[1] for p in paths]


def test_seed_default_threshold_and_legacy_analysis(vod, wav, tmp_path):
    # The seed's -5 dBFS default finds nothing on this quiet file; None selects the default.
    assert AudioAnalysis(vod, wav, tmp_path).highlights == []
    modern = AudioAnalysis(vod, wav, tmp_path, decibel_threshold=None).highlights
    assert len(modern) == len(LOUD_AT)


class _Failing:
    """An analyzer that fails on its first chunk."""

    hop = 0.1

    def feed(self, chunk):
        raise RuntimeError("the model is missing")

    def finish(self):
        return np.zeros(0, dtype=np.float32)


def test_an_export_whose_analysis_fails_leaves_no_folder(vod, tmp_path):
    """``export()`` made the output folder before running the analysis: one that failed (or
    Ctrl-C during it) left an empty folder behind, where ``m0core.analyze`` leaves none."""
    from m0core.errors import PluginError
    from m0core.testing import registered

    with registered("analyzers", "failing", _Failing):
        analysis = StreamingAudioAnalysis(vod, StreamingAudioProcessor(vod), tmp_path / "out",
                                          None, analyzer="failing")
        with pytest.raises(PluginError, match="the model is missing"):
            analysis.export()
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_rerun_from_an_extracted_audio_track_replaces_the_previous_clips(vod, wav, tmp_path):
    """The seed's usage, ``AudioAnalysis(video, extracted_wav, out)``: a rerun with fewer
    highlights (``max_clips=1``) left the previous run's other clip in the folder, named by no
    ``highlights.json``, as ``m0 analyze`` never does; its clips were cut straight into it."""
    out = tmp_path / "out"
    first = AudioAnalysis(vod, wav, out, None).generate_all_highlights(max_workers=2)
    assert len(first) == len(LOUD_AT)
    [kept] = AudioAnalysis(vod, wav, out, None, max_clips=1).generate_all_highlights()
    doc = json.loads((out / "highlights.json").read_text())
    assert [h["clip"] for h in doc["highlights"]] == [Path(kept).name]
    assert sorted(p.name for p in out.iterdir()) == sorted([Path(kept).name, "highlights.json",
                                                            "index.json"])


@pytest.mark.parametrize("extracted", [False, True])
def test_the_seed_flow_export_then_clips_replaces_the_previous_clips(vod, wav, tmp_path,
                                                                      extracted):
    """The seed's guide calls export() and then generate_all_highlights(): export() wrote
    a highlights.json naming no clip over the previous run's record, so a rerun with fewer
    highlights no longer knew the previous clips and left them in the folder, named by
    nothing. export() is published as a run without clips (as ``m0 analyze --no-clips``)."""
    out = tmp_path / "out"
    for max_clips, expected in ((None, len(LOUD_AT)), (1, 1)):
        audio = wav if extracted else vod
        analysis = StreamingAudioAnalysis(vod, StreamingAudioProcessor(audio), out, None,
                                          max_clips=max_clips)
        analysis.export()
        clips = [Path(p).name for p in analysis.generate_all_highlights()]
        assert len(clips) == expected
        assert sorted(p.name for p in out.glob("*.mp4")) == sorted(clips)
        doc = json.loads((out / "highlights.json").read_text())
        assert [h["clip"] for h in doc["highlights"]] == clips
    analysis.export()  # after the clips: they stay, and the record names them
    assert [p.name for p in out.glob("*.mp4")] == clips
    assert [h["clip"] for h in json.loads((out / "highlights.json").read_text())["highlights"]
            ] == clips


def test_optimized_clip_generator(vod, tmp_path):
    done = []
    results = OptimizedClipGenerator(max_workers=2).generate_clips(
        vod, [(1.0, 4.0), Highlight(10.0, 15.0, 12.0, -9.0, 3.0, "x", index=7)], tmp_path,
        progress_callback=lambda d, t, r: done.append((d, t)),
    )
    assert [r.ok for r in results] == [True, True]
    assert sorted(done) == [(1, 2), (2, 2)]
    assert results[1].path.endswith("07_0h00m12s_-9.0dB.mp4")


def test_optimized_clip_generator_pads_the_numbers_of_100_clips_or_more(vod, tmp_path):
    results = OptimizedClipGenerator(max_workers=2).generate_clips(
        vod, [(1.0, 2.0), Highlight(10.0, 11.0, 10.5, -9.0, 3.0, "x", index=100)], tmp_path)
    assert [Path(r.path).name for r in results] == ["001_0h00m01s_0.0dB.mp4",
                                                    "100_0h00m10s_-9.0dB.mp4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(r.path).name for r in results]


@pytest.mark.parametrize("settings", [{"cut": "fast"}, {"max_workers": 0}, {"timeout": -1}])
def test_optimized_clip_generator_with_a_bad_option_leaves_no_folder(vod, tmp_path, settings):
    """A bad ``cut``, ``max_workers`` or ``timeout`` was one OptionError, but it left the
    output folder behind, made empty before the encoder refused the option."""
    cut = settings.pop("cut", "copy")
    with pytest.raises(OptionError):
        OptimizedClipGenerator(**settings).generate_clips(vod, [(1.0, 2.0)], tmp_path / "out",
                                                          cut=cut)
    assert not (tmp_path / "out").exists()


def test_the_seed_classes_given_the_wrong_types_say_what_they_take(vod, tmp_path):
    """A path for the processor was ``AttributeError: 'str' object has no attribute
    'analyzer'``, a bare number for a highlight ``TypeError: 'int' object is not iterable``."""
    with pytest.raises(OptionError, match="processor must be a StreamingAudioProcessor"):
        StreamingAudioAnalysis(vod, str(vod), tmp_path / "out")
    for item in (5, ("a", "b"), (1.0, 2.0, 3.0)):
        with pytest.raises(OptionError, match=r"a Highlight or a \(start, end\) pair"):
            OptimizedClipGenerator().generate_clips(vod, [item], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_seed_classes_given_a_plugin_name_callback_or_list_of_another_type_say_so(
        vod, tmp_path):
    """``AudioProcessor(path, source=5)`` was ``AttributeError: 'int' object has no attribute
    'casefold'``; ``generate_clips(video, None, out)`` a ``TypeError``; a progress_callback
    that is no function a ``TypeError`` after the first clip was cut, which it left in the
    folder."""
    for call, says in [
        (lambda: AudioProcessor(vod, source=5), "source must be a plugin name, not 5"),
        (lambda: OptimizedClipGenerator(encoder=None).generate_clips(vod, [(1.0, 2.0)],
                                                                     tmp_path / "out"),
         "encoder must be a plugin name, not None"),
        (lambda: OptimizedClipGenerator().generate_clips(vod, None, tmp_path / "out"),
         "highlights must be a list of Highlight or (start, end) pairs, not None"),
        (lambda: OptimizedClipGenerator().generate_clips(vod, [(1.0, 2.0)], tmp_path / "out",
                                                         progress_callback=5),
         "progress_callback must be a function, not 5"),
    ]:
        with pytest.raises(OptionError) as raised:
            call()
        assert str(raised.value) == says
    assert not (tmp_path / "out").exists()


def test_the_seed_classes_given_an_empty_path_or_no_path_say_so(vod, tmp_path, monkeypatch):
    """``BatchJob(video, "")``, ``StreamingAudioAnalysis(..., "")`` and ``generate_clips(...,
    "")`` (an unset variable) wrote into the current folder; a path that was a number was a
    ``TypeError`` from ``os.fspath``, one of bytes ``AttributeError: 'bytes' object has no
    attribute 'encode'``."""
    from m0core import BatchJob

    monkeypatch.chdir(tmp_path)
    empty = "is empty (an unset variable?): give a path, '.' for the current folder"
    for call, says in [
        (lambda: BatchJob(vod, ""), f"output_path {empty}"),
        (lambda: BatchJob(5, "out"), "video_path must be a path (a str or pathlib.Path), not 5"),
        (lambda: StreamingAudioAnalysis(vod, StreamingAudioProcessor(vod), "", None),
         f"output_path {empty}"),
        (lambda: StreamingAudioProcessor(None), "audio_path must be a path"),
        (lambda: OptimizedClipGenerator().generate_clips(vod, [(1.0, 2.0)], ""),
         f"output_dir {empty}"),
        (lambda: OptimizedClipGenerator().generate_clip(bytes(vod), 1.0, 2.0, "out"),
         "video_path must be a path (a str or pathlib.Path), not b'"),
    ]:
        with pytest.raises(OptionError) as raised:
            call()
        assert str(raised.value).startswith(says)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ledger, says", [
    ("", "ledger is empty (an unset variable?): give a path"),
    (5, "ledger must be a path (a str or pathlib.Path), not 5"),
])
def test_a_batch_ledger_that_is_empty_or_no_path_is_one_option_error(ledger, says):
    """``BatchProcessor(ledger=os.environ.get("LEDGER", ""))`` was ``ValueError: PosixPath('.')
    has an empty name`` once the batch ran, a number a ``TypeError``."""
    from m0core import BatchProcessor

    with pytest.raises(OptionError) as raised:
        BatchProcessor(ledger=ledger)
    assert str(raised.value) == says


def test_analysis_options_are_used_or_refused(vod, tmp_path):
    """Options the seed class takes as keywords: short-form ones shape the clips
    highlights.json says they shape; stage names win over the processor's; a rerun with
    other options replaces the previous clips whole; ``clips`` and unknown names are one
    OptionError, at once."""
    from m0core.errors import OptionError
    from m0core.media.ffmpeg import probe

    out = tmp_path / "out"
    first = StreamingAudioAnalysis(vod, StreamingAudioProcessor(vod), out, None)
    assert len(first.generate_all_highlights()) == len(LOUD_AT)
    vertical = StreamingAudioAnalysis(vod, StreamingAudioProcessor(vod), out, None,
                                      clip_length=8, aspect="9:16", selector="standout",
                                      max_clips=1)
    [path] = vertical.generate_all_highlights(max_workers=1)
    doc = json.loads((out / "highlights.json").read_text())
    assert doc["clips"]["short_form"]["aspect"] == "9:16" and doc["clips"]["cut"] == "accurate"
    assert probe(path).duration == pytest.approx(8, abs=0.2)
    with av.open(path) as c:
        width, height = c.streams.video[0].width, c.streams.video[0].height
    assert abs(width - height * 9 / 16) <= 1
    assert sorted(p.name for p in out.glob("*.mp4")) == [path.rsplit("/", 1)[1]]
    for bad, says in [({"clips": True}, "clips is not an option here"),
                      ({"colour": "red"}, "unknown option(s): colour")]:
        with pytest.raises(OptionError, match=re.escape(says)):
            StreamingAudioAnalysis(vod, StreamingAudioProcessor(vod), out, None, **bad)
    with pytest.raises(OptionError, match="chunk_duration must be between"):
        StreamingAudioProcessor(vod, chunk_duration=0)


class _TextClips:
    """A plugin author's encoder, as the guide's contract has it: submit() and close() only
    (no context manager)."""

    def __init__(self, media, out_dir, **params):
        self.out_dir, self.closed = out_dir, []

    def submit(self, highlight):
        from concurrent.futures import Future

        path = self.out_dir / f"{highlight.index:02d}.txt"
        path.write_text(f"{highlight.start} {highlight.end}")
        future = Future()
        future.set_result(ClipResult(highlight, str(path), True))
        return future

    def close(self, cancel=False):
        pass


def test_optimized_clip_generator_cuts_with_an_encoder_plugin_of_the_contract(wav, tmp_path):
    """OptimizedClipGenerator(encoder=NAME) used its encoder as a context manager, which the
    contract does not ask for: a plugin's encoder (the guide's wrapper too) failed with
    "TypeError: '_TextClips' object does not support the context manager protocol"."""
    from m0core.testing import registered

    with registered("encoders", "textclips", _TextClips):
        clips = OptimizedClipGenerator(encoder="textclips").generate_clips(
            wav, [(10.0, 20.0), (30.0, 40.0)], tmp_path / "out")
    assert [Path(c.path).name for c in clips] == ["01.txt", "02.txt"]
    assert (tmp_path / "out" / "02.txt").read_text() == "30.0 40.0"


def test_clips_that_all_fail_leave_no_folder_and_no_header_only_clip(vod, make_media, tmp_path):
    """``generate_clips`` whose every window failed (past the recording's end) left an empty
    output folder behind; ``generate_clip`` of a WAV with no samples returned ok=True and a
    78-byte clip of a header alone. Both are failed results with their reason, no folder made
    and no file; a folder that was there stays."""
    generator = OptimizedClipGenerator(max_workers=2)
    out = tmp_path / "past_the_end"
    results = generator.generate_clips(vod, [(100.0, 105.0), (200.0, 205.0)], out)
    assert [r.ok for r in results] == [False, False]
    assert results[0].error == "clip window starts at 100.0 s, after the end (60.0 s)"
    assert not out.exists()
    there = tmp_path / "there"
    there.mkdir()
    assert not generator.generate_clip(vod, 100.0, 105.0, there).ok
    assert there.is_dir()
    silent = make_media("no_samples.wav", "-f", "lavfi", "-i", "sine=duration=1", "-t", "0")
    empty = generator.generate_clip(silent, 0.0, 1.0, tmp_path / "empty")
    assert not empty.ok and empty.path is None and empty.error == "ffmpeg wrote an empty clip"
    assert not (tmp_path / "empty").exists()
