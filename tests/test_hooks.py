"""Third-party sources and encoders through their hooks, driving the real pipeline."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pytest

from m0core import AudioChunk, ClipResult, MediaInfo, analyze, hookimpl


class _ToneSource:
    """Ignores the file's content: 30 s of quiet noise with a loud tone from 18 s to 19 s."""

    def __init__(self, rate: int = 8000) -> None:
        self.rate = rate

    def probe(self, path):
        return MediaInfo(path=str(path), duration=30.0, sample_rate=self.rate, channels=1)

    def chunks(self, path, *, chunk_seconds=10.0, start=0.0, duration=None):
        rng = np.random.default_rng(0)
        step = int(chunk_seconds * self.rate)
        for first in range(0, 30 * self.rate, step):
            t = np.arange(first, first + step) / self.rate
            loud = (t >= 18) & (t < 19)
            yield AudioChunk(0.01 * rng.standard_normal(step) + loud * np.sin(2000 * t),
                             self.rate, first / self.rate)


class _SourcePlugin:
    @hookimpl
    def m0_register_sources(self, register):
        register("tone", _ToneSource)


def test_a_registered_source_feeds_the_pipeline(register_plugin, tmp_path):
    register_plugin(_SourcePlugin(), "tone-source")
    anything = tmp_path / "anything.bin"
    anything.write_bytes(b"not media")
    result = analyze(anything, source="tone", clips=False, source_params={"rate": 16000})
    assert result.media.sample_rate == 16000
    assert [round(h.peak_time) for h in result.highlights] == [18]


class _NoteEncoder:
    """Writes a text note per highlight instead of a clip."""

    def __init__(self, media, out_dir, **params) -> None:
        self.out_dir = out_dir
        self.params = params

    def submit(self, highlight) -> Future:
        path = self.out_dir / f"{highlight.index:02d}.txt"
        path.write_text(f"{highlight.start} {highlight.end}\n")
        future: Future = Future()
        future.set_result(ClipResult(highlight, str(path), ok=True))
        return future

    def close(self, cancel: bool = False) -> None:
        pass


class _EncoderPlugin:
    @hookimpl
    def m0_register_encoders(self, register):
        register("note", _NoteEncoder)


def test_a_registered_encoder_gets_every_highlight(register_plugin, wav, tmp_path):
    register_plugin(_EncoderPlugin(), "note-encoder")
    result = analyze(wav, tmp_path / "out", encoder="note", workers=2)
    assert len(result.highlights) == 2
    for clip in result.clips:
        assert clip.ok
        start, end = map(float, open(clip.path).read().split())
        assert (start, end) == pytest.approx((clip.highlight.start, clip.highlight.end))
