"""Stages registered in this process only (``m0core.testing.registered``, ``analyze_with``
with a factory, a library user's own plugin object) work on long files and in batches: the
decoding that worker processes would do happens in the calling process instead."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from m0core import BatchJob, BatchProcessor, Highlight, Timeline
from m0core.batch.ledger import Ledger
from m0core.dev import synth
from m0core.model import AudioChunk
from m0core.pipeline.segments import plan_segments
from m0core.testing import analyze_with, assert_chunking_invariant, feed, registered


class Loud:
    """A plugin author's analyzer: RMS level in dBFS per 0.1 s."""

    hop = 0.1

    def __init__(self) -> None:
        self._rest = np.zeros(0, dtype=np.float32)
        self._size = 0

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        self._size = int(round(chunk.sample_rate * self.hop))
        data = np.concatenate([self._rest, chunk.samples])
        count = len(data) // self._size
        self._rest = data[count * self._size:]
        frames = data[: count * self._size].reshape(count, self._size).astype(np.float64)
        return 10 * np.log10(np.maximum((frames ** 2).mean(axis=1), 1e-10))

    def finish(self) -> np.ndarray:
        if not len(self._rest):
            return np.zeros(0)
        return np.array([10 * np.log10(max(float((self._rest ** 2).mean()), 1e-10))])


@pytest.fixture(scope="module")
def twenty_minutes(tmp_path_factory):
    """A 20-minute recording with moments planted at known times."""
    path = tmp_path_factory.mktemp("long") / "twenty-minutes.wav"
    events = synth.write_audio(path, 1200.0, seed=5)
    return path, events


def test_analyze_with_a_factory_on_20_minutes_finds_what_one_job_finds(twenty_minutes):
    path, events = twenty_minutes
    assert len(plan_segments(1200.0, 2, Loud.hop)) == 4  # two jobs would decode in parallel
    parallel = analyze_with(path, Loud, jobs=2)
    single = analyze_with(path, Loud, jobs=1)
    assert [h.to_dict() for h in parallel.highlights] == [h.to_dict() for h in single.highlights]
    np.testing.assert_array_equal(parallel.scores, single.scores)
    assert synth.match_events(events, parallel.highlights).recall >= 0.8
    assert any('analyzer "test-Loud" registered in this process only' in note
               for note in parallel.notes)
    assert single.notes == ()  # nothing to say when one pass was asked for


def test_an_entry_point_analyzer_still_decodes_in_parallel_segments(twenty_minutes):
    path, _ = twenty_minutes
    assert analyze_with(path, "rms-streaming", jobs=2).notes == ()


def test_a_batch_job_with_an_in_process_analyzer_runs_in_the_calling_process(wav, tmp_path):
    with registered("analyzers", "test-loud-batch", Loud) as name:
        alone = analyze_with(wav, name)
        jobs = [BatchJob(wav, tmp_path / "a", analyzer=name, job_id="in-process"),
                BatchJob(wav, tmp_path / "b", job_id="entry-point")]
        results = BatchProcessor(max_workers=2).process_batch(jobs)
    here, there = results["in-process"], results["entry-point"]
    assert here["status"] == "completed", here["error"]
    assert there["status"] == "completed", there["error"]
    assert here["highlights"] == len(alone.highlights) > 0
    assert 'analyzer "test-loud-batch" registered in this process only' in here["notes"][0]
    assert not there["notes"]
    assert here["worker"].endswith(f":{os.getpid()}")
    assert not there["worker"].endswith(f":{os.getpid()}")


class SlowLoud(Loud):
    """Loud, taking half a second per chunk (a heavy model)."""

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        time.sleep(0.5)
        return super().feed(chunk)


def test_stop_reaches_a_batch_job_running_in_the_calling_process(wav, tmp_path):
    """``process_batch(stop=...)`` (how the GUI cancels) stops such a job within about a
    second too; it is recorded interrupted and its folder holds nothing."""
    ledger = tmp_path / "ledger.sqlite"
    stop = threading.Event()
    with registered("analyzers", "test-slow-batch", SlowLoud) as name:
        timer = threading.Timer(1.5, stop.set)
        timer.start()
        began = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            BatchProcessor(max_workers=1, ledger=ledger).process_batch(
                [BatchJob(wav, tmp_path / "a", analyzer=name, job_id="slow")], stop=stop)
        took = time.monotonic() - began
    assert took < 4.0, f"stopped after {took:.1f} s (the job alone takes about 6 s)"
    with Ledger(ledger) as book:
        assert [row.status for row in book.rows()] == ["interrupted"]
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").iterdir())


class Doubled(Loud):
    """A bug: every value twice."""

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        return np.repeat(super().feed(chunk), 2)


class Silent(Loud):
    """A bug: -inf for silence instead of a floor value."""

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        values = super().feed(chunk)
        return np.where(values <= -100, -np.inf, values)


def test_the_testing_helpers_assert_what_a_run_checks():
    """``feed`` and ``assert_chunking_invariant`` fail on what would fail in m0 (a wrong count
    of values, -inf), not only on chunking: an author's tests catch it first."""
    rate = 48000
    samples = np.concatenate([np.zeros(rate), 0.1 * np.ones(rate + 7)])
    assert len(feed(Loud(), samples, rate)) == 21
    assert len(assert_chunking_invariant(Loud, samples, rate)) == 21
    with pytest.raises(AssertionError, match=r"returned 41 score values .* not 21"):
        assert_chunking_invariant(Doubled, samples, rate)
    with pytest.raises(AssertionError, match="returned 10 NaN or infinite score values"):
        feed(Silent(), samples, rate, [rate])


class Chapters:
    """A plugin author's writer: a line per highlight, a step each (``steps``)."""

    calls: int | None = None  # how many times write() calls step(); None: one per highlight
    inside = True  # False: returns a path beside the folder it was given

    def steps(self, result) -> int:
        return len(result.highlights)

    def write(self, result, out_dir, step=None):
        target = out_dir / "chapters.txt" if self.inside else out_dir.parent / "chapters.txt"
        target.write_text("".join(f"{h.peak_time:.1f}\n" for h in result.highlights))
        for _ in range(len(result.highlights) if self.calls is None else self.calls):
            step()
        return [target]


def test_the_testing_write_helper_asserts_a_writers_contract(wav, tmp_path):
    """m0core.testing had no helper for a writer: an author could not check that write()
    calls step() as many times as steps() says (m0 clamps the bar, so a run says nothing) nor
    that it returns files inside the folder it was given, before m0 refuses them in a run."""
    from m0core.testing import write

    result = analyze_with(wav, selector="top", max_clips=3)
    assert [p.name for p in write(Chapters(), result, tmp_path / "a")] == ["chapters.txt"]
    assert (tmp_path / "a" / "chapters.txt").read_text().count("\n") == 3
    wrong = Chapters()
    wrong.calls = 1
    with pytest.raises(AssertionError, match=r"called step\(\) 1 time, not the 3 its "
                                             r"steps\(\) said"):
        write(wrong, result, tmp_path / "b")
    wrong.calls = 5
    with pytest.raises(AssertionError, match=r"called step\(\) 5 times, not the 3"):
        write(wrong, result, tmp_path / "c")
    outside = Chapters()
    outside.inside = False
    with pytest.raises(AssertionError, match="which is not inside the folder it was given"):
        write(outside, result, tmp_path / "d")


class Peaks:
    """A plugin author's selector: a highlight at each score above -20 after one below."""

    def __init__(self, timeline, threshold=None):
        self.timeline, self.i, self.above = timeline, 0, False

    def feed(self, scores):
        found = []
        for value in scores:
            if value > -20 and not self.above:
                peak = self.timeline.time(self.i)
                found.append(Highlight(*self.timeline.window(peak), peak, float(value), 1.0))
            self.above = value > -20
            self.i += 1
        return found

    def finish(self):
        return []


class PieceMax(Peaks):
    """A bug: the loudest value of each piece it is fed, whatever the pieces are."""

    def feed(self, scores):
        if not len(scores):
            return []
        best = int(np.argmax(scores))
        peak = self.timeline.time(self.i + best)
        self.i += len(scores)
        return [Highlight(*self.timeline.window(peak), peak, float(scores[best]), 1.0)]


def test_the_testing_selection_helpers_assert_a_selectors_contract():
    """m0core.testing had no helper for a selector: the guide's rule that its highlights must
    not depend on where the curve is cut (m0 feeds ~30 s pieces while decoding, the whole
    curve from the cache) could not be checked, nor what m0 refuses of a highlight."""
    from m0core.testing import assert_selection_chunking_invariant, select

    scores = np.full(3000, -40.0)
    scores[[500, 1500, 2500]] = -5.0
    timeline = Timeline(0.1, 300.0)
    found = assert_selection_chunking_invariant(Peaks, scores, timeline=timeline)
    assert [h.peak_time for h in found] == pytest.approx([50.05, 150.05, 250.05])
    assert [h.peak_time for h in select(Peaks(timeline), scores, [7, 1, 1000])] == \
        pytest.approx([50.05, 150.05, 250.05])
    assert assert_selection_chunking_invariant("standout", scores)  # a name works too
    with pytest.raises(AssertionError, match="highlights differ"):
        assert_selection_chunking_invariant(PieceMax, scores, timeline=timeline)

    class Empty(Peaks):
        def finish(self):
            return [Highlight(20.0, 10.0, 15.0, -5.0, 1.0)]

    with pytest.raises(AssertionError, match=r"the selector gave a highlight whose window is "
                                             r"empty \(start 20 s, end 10 s"):
        select(Empty(timeline), scores)
