"""Audio sources: ffmpeg (any container) and soundfile, chunking, seeking, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import m0core
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


def test_sources_agree_on_wav(wav):
    _, a = _decode(plugins.create("sources", "ffmpeg"), wav, chunk_seconds=5)
    _, b = _decode(plugins.create("sources", "soundfile"), wav, chunk_seconds=3)
    _, c = _decode(plugins.create("sources", "pyav"), wav, chunk_seconds=4)
    assert len(a) == len(b) == len(c)
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(c, b, atol=1e-4)


def test_pyav_equals_the_ffmpeg_program_on_mp4(vod):
    _, a = _decode(plugins.create("sources", "ffmpeg"), vod)
    _, b = _decode(plugins.create("sources", "pyav"), vod, chunk_seconds=3.3)
    assert len(a) == len(b)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_pyav_seeks_sample_exactly(wav, vod):
    """Bit-exact on PCM. On AAC the timing is exact too, but the decoder fills noise bands
    from a random generator (PNS) whose state depends on what it decoded before, so only the
    levels can agree there, not the noise samples."""
    source = plugins.create("sources", "pyav")
    for path, exact in ((wav, True), (vod, False)):
        _, whole = _decode(source, path)
        for start in (7.0, 23.4, 41.05):
            _, part = _decode(source, path, start=start, duration=6.0, chunk_seconds=1.7)
            first = int(round(start * 48000))
            assert len(part) == 6 * 48000
            same = whole[first:first + len(part)]
            if exact:
                np.testing.assert_array_equal(part, same)
                continue
            lags = range(-600, 601, 8)
            errors = [np.abs(part[2000:50000] - whole[first + 2000 + lag:first + 50000 + lag])
                      .mean() for lag in lags]
            assert lags[int(np.argmin(errors))] == 0
            level = [10 * np.log10(np.mean(np.square(x.reshape(-1, 4800)), axis=1) + 1e-12)
                     for x in (part, same)]
            assert np.abs(level[0] - level[1]).max() < 0.5


@pytest.mark.parametrize("name", ["ffmpeg", "soundfile", "pyav"])
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


@pytest.mark.parametrize("name", ["ffmpeg", "pyav"])
def test_no_audio_is_an_input_error(video_only, name):
    with pytest.raises(InputError, match="no audio"):
        list(plugins.create("sources", name).chunks(str(video_only)))


@pytest.mark.parametrize("name", ["ffmpeg", "pyav"])
def test_a_faststart_mp4_cut_short_is_read_to_where_its_audio_ends(make_media, tmp_path,
                                                                   name):
    """A faststart MP4 cut in half (its index declares 20 s) was 'file is truncated or
    damaged': its chunks end where its audio does, about half way, with no error."""
    whole = make_media(
        "faststart.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=20",
        "-f", "lavfi", "-i", "sine=f=300:duration=20", "-c:v", "libx264", "-preset",
        "ultrafast", "-c:a", "aac", "-movflags", "+faststart", "-shortest",
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    chunks = list(plugins.create("sources", name).chunks(str(cut)))
    assert 8 < chunks[-1].start + len(chunks[-1].samples) / chunks[-1].sample_rate < 12


@pytest.mark.parametrize("name", ["ffmpeg", "pyav"])
def test_an_mp4_without_its_index_says_it_is_incomplete_and_what_may_rebuild_it(
        vod, tmp_path, name):
    """An MP4 whose recorder stopped before writing its moov (OBS or the PC crashed, a disk
    filled) was 'not a media file ffmpeg can read (moov atom not found)' through the ffmpeg
    source, with no word of why or what to do: both sources say it is incomplete and that
    untrunc can rebuild it. One still being recorded has no moov yet either: so they say."""
    cut = tmp_path / "crashed.mp4"
    cut.write_bytes(vod.read_bytes()[: vod.stat().st_size // 2])
    with pytest.raises(InputError) as error:
        plugins.create("sources", name).probe(str(cut))
    assert str(error.value) == (f"{cut}: not a media file {'m0' if name == 'pyav' else name} "
                                "can read (its MP4 index is missing: the recording is "
                                "incomplete (still being recorded, or a crash, a full disk, a "
                                "stopped download); untrunc can rebuild the index from a "
                                "healthy recording made with the same settings)")


def test_a_segment_after_an_mp4s_audio_ends_is_empty(make_media):
    """An MP4 whose audio ends before its video (5 s of 20): the segment a worker decodes
    from 10 s (a recording of 10 minutes or more is cut in segments) failed with 'plugin
    "pyav-source": AttributeError: 'tuple_iterator' object has no attribute 'close''. It
    has no audio there: no chunk."""
    path = make_media("audio-ends-early.mp4", "-f", "lavfi", "-i",
                      "testsrc2=size=64x48:rate=5:duration=20", "-f", "lavfi", "-i",
                      "sine=duration=5", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
    source = plugins.create("sources", "pyav")
    assert list(source.chunks(str(path), start=10.0, duration=5.0)) == []
    assert list(source.chunks(str(path), start=10.0)) == []


@pytest.mark.parametrize("content", [b"hello, this is text\n" * 10, bytes(range(256)) * 40])
@pytest.mark.parametrize("name", ["ffmpeg", "soundfile", "pyav"])
def test_not_media_is_an_input_error(tmp_path, content, name):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(InputError, match="bad.mp4"):
        plugins.create("sources", name).probe(str(bad))


@pytest.mark.parametrize("name", ["ffmpeg", "soundfile", "pyav"])
def test_a_recording_of_samples_that_are_not_numbers_is_an_input_error(make_media, tmp_path,
                                                                        name):
    """A float WAV holding NaN samples from 5 s was 'plugin "rms" (analyzer "rms-streaming",
    from m0-clipper ...): returned 1 NaN or infinite score value', blaming m0's analyzer."""
    damaged = make_media(
        "nan-from-5s.wav", "-f", "lavfi", "-i",
        "aevalsrc=exprs='if(between(t,5,5.01),0/0,0.1*sin(2*PI*440*t))':s=48000:d=8",
        "-c:a", "pcm_f32le",
    )
    with pytest.raises(InputError) as raised:
        m0core.analyze(damaged, source=name, clips=False)
    assert str(raised.value) == (f"{damaged}: its audio holds samples that are not numbers "
                                 "(NaN or infinite) from 5 s: the recording is damaged")


def test_stopping_early_leaves_no_ffmpeg(vod):
    import psutil

    chunks = plugins.create("sources", "ffmpeg").chunks(str(vod), chunk_seconds=1.0)
    next(chunks)
    assert psutil.Process().children()
    chunks.close()
    assert not psutil.Process().children()


def _bytes_read() -> int:
    """Bytes this process has read through read() calls so far (Linux: /proc/self/io)."""
    text = Path("/proc/self/io").read_text()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar")))


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="reads /proc/self/io (Linux)")
@pytest.mark.parametrize(("ext", "codec", "audio_late"), [
    ("mkv", "pcm_s16le", 0.0), ("mkv", "pcm_s16le", 6.0), ("ts", "mp2", 0.0)])
def test_pyav_seeks_by_the_files_index_exactly(make_media, ext, codec, audio_late):
    """A Matroska file indexes its video keyframes only: a segment starting late in it is
    found through that index, not by reading the file up to it (FFmpeg's seek on the audio
    track itself reads every cluster before the target), and its samples are the whole
    decode's there, sample for sample (PCM), placed within the millisecond that Matroska's
    timestamps give. With the audio muxed 6 s after the video (an audio offset), the same;
    and in an MPEG-TS (MP2 audio: no random noise filling; the same to the 16-bit rounding)."""
    path = make_media(
        f"indexed-video-{audio_late:g}.{ext}",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=90",
        "-itsoffset", str(audio_late), "-f", "lavfi", "-i",
        "anoisesrc=color=pink:amplitude=0.3:sample_rate=48000:duration=90",
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "3M",
        "-g", "50", "-c:a", codec, "-t", "90")
    source = plugins.create("sources", "pyav")
    _, whole = _decode(source, path)
    for start in (4.5, 9.3, 71.05):  # 4.5: before a late audio's first packet
        before = _bytes_read()
        _, part = _decode(source, path, start=start, duration=2.0, chunk_seconds=1.0)
        read = _bytes_read() - before
        assert read < path.stat().st_size / 8, f"{read} bytes read to decode 2 s"
        assert len(part) == 2 * 48000 and np.abs(part).max() > 0.01
        first = int(round(start * 48000))
        end = first + len(part)  # aligned on the end: a late audio's start is silent
        lag = min(range(-48, 49), key=lambda lag: np.abs(
            whole[end + lag - 4800:end + lag] - part[-4800:]).sum())
        np.testing.assert_allclose(part, whole[first + lag:first + lag + len(part)],
                                   rtol=0, atol=0 if codec.startswith("pcm") else 1e-4)
