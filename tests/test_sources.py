"""Audio sources: ffmpeg (any container) and soundfile, chunking, seeking, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from m0core import plugins
from m0core.errors import InputError


def _decode(source, path, **kw):
    chunks = list(source.chunks(str(path), **kw))
    return chunks, np.concatenate([c.samples for c in chunks])


def test_ffmpeg_probe_reads_streams(vod, video_only):
    info = plugins.create("sources", "ffmpeg").probe(str(vod))
    assert info.has_video and info.has_audio
    assert info.sample_rate == 48000 and info.channels == 2
    assert info.duration == pytest.approx(60.0, abs=0.1)
    assert not plugins.create("sources", "ffmpeg").probe(str(video_only)).has_audio


def test_ffmpeg_chunks_are_contiguous_and_bounded(vod):
    chunks, samples = _decode(plugins.create("sources", "ffmpeg"), vod, chunk_seconds=7.0)
    assert all(len(c.samples) == 7 * 48000 for c in chunks[:-1])
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start == pytest.approx(a.end)
    assert len(samples) / 48000 == pytest.approx(60.0, abs=0.05)
    assert samples.dtype == np.float32 and np.abs(samples).max() <= 1.0


def test_ffmpeg_and_soundfile_agree_on_wav(wav):
    _, a = _decode(plugins.create("sources", "ffmpeg"), wav, chunk_seconds=5)
    _, b = _decode(plugins.create("sources", "soundfile"), wav, chunk_seconds=3)
    assert len(a) == len(b)
    np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("name", ["ffmpeg", "soundfile"])
def test_start_and_duration(wav, name):
    source = plugins.create("sources", name)
    _, whole = _decode(source, wav)
    chunks, part = _decode(source, wav, start=10.0, duration=5.0)
    assert chunks[0].start == pytest.approx(10.0)
    assert len(part) == pytest.approx(5 * 48000, abs=2)
    np.testing.assert_allclose(part[:1000], whole[480000:481000], atol=1e-4)


def test_resampling(wav):
    chunks, samples = _decode(plugins.create("sources", "ffmpeg", sample_rate=16000), wav)
    assert chunks[0].sample_rate == 16000
    assert len(samples) == pytest.approx(60 * 16000, abs=20)


def test_no_audio_is_an_input_error(video_only):
    with pytest.raises(InputError, match="no audio"):
        list(plugins.create("sources", "ffmpeg").chunks(str(video_only)))


def test_truncated_faststart_mp4_is_an_input_error(make_media, tmp_path):
    whole = make_media(
        "faststart.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=20",
        "-f", "lavfi", "-i", "sine=f=300:duration=20", "-c:v", "libx264", "-preset",
        "ultrafast", "-c:a", "aac", "-movflags", "+faststart", "-shortest",
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated"):
        list(plugins.create("sources", "ffmpeg").chunks(str(cut)))


@pytest.mark.parametrize("content", [b"hello, this is text\n" * 10, bytes(range(256)) * 40])
@pytest.mark.parametrize("name", ["ffmpeg", "soundfile"])
def test_not_media_is_an_input_error(tmp_path, content, name):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(InputError, match="bad.mp4"):
        plugins.create("sources", name).probe(str(bad))


def test_stopping_early_leaves_no_ffmpeg(vod):
    import psutil

    chunks = plugins.create("sources", "ffmpeg").chunks(str(vod), chunk_seconds=1.0)
    next(chunks)
    assert psutil.Process().children()
    chunks.close()
    assert not psutil.Process().children()
