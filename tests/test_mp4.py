"""m0's reader of MP4/MOV/M4A audio tracks (m0_plugins.pyav_source.mp4), against FFmpeg's
own demuxer and decoder on files ffmpeg writes at test time."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import sweep

from m0_plugins.pyav_source import chunks, demux, mp4, reader, source
from m0core import plugins

_VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15:duration=20"]
_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30"]
# A chord with a slow tremolo: tonal, so AAC codes it without noise substitution and a
# decoder started mid-stream settles on exactly the same samples.
_AUDIO = ["-f", "lavfi", "-i",
          "aevalsrc='0.3*sin(2*PI*440*t)*(1+0.5*sin(2*PI*0.7*t))+0.2*sin(2*PI*1250*t)|"
          "0.25*sin(2*PI*660*t)':s=48000:d=20"]
_AAC = ["-c:a", "aac", "-b:a", "128k", "-shortest"]

FLAVOURS = {
    "mp4": (_VIDEO + _AUDIO + _X264 + _AAC, "mp4"),
    "faststart": (_VIDEO + _AUDIO + _X264 + _AAC + ["-movflags", "+faststart"], "mp4"),
    "fragmented": (_VIDEO + _AUDIO + _X264 + _AAC + ["-movflags", "frag_keyframe+empty_moov"],
                   "mp4"),
    "fragmented-moov-samples": (_VIDEO + _AUDIO + _X264 + _AAC + ["-movflags", "frag_keyframe"],
                                "mp4"),
    "fragmented-moof-base": (_AUDIO + _AAC + ["-frag_duration", "1000000", "-movflags",
                                              "frag_keyframe+empty_moov+default_base_moof"],
                             "m4a"),
    "m4a": (_AUDIO + _AAC, "m4a"),
    "mov": (_VIDEO + _AUDIO + _X264 + _AAC, "mov"),
}


def _make(make_media, name: str) -> Path:
    args, ext = FLAVOURS[name]
    return make_media(f"mp4-{name}.{ext}", *args)


def _mine(path: Path, **kw) -> np.ndarray:
    assert source._mp4_reader(path) is not None, "m0's reader should take this file"
    chunks = list(plugins.create("sources", "pyav").chunks(str(path), **kw))
    return np.concatenate([c.samples for c in chunks])


def _ffmpeg(path: Path) -> np.ndarray:
    """The whole track through FFmpeg's mov demuxer and decoder, channels averaged."""
    with av.open(str(path)) as container:
        return np.concatenate([chunks.mono(frame)
                               for frame in container.decode(container.streams.audio[0])])


@pytest.mark.parametrize("name", sweep(FLAVOURS, {"mp4", "fragmented-moof-base", "mov"}))
def test_equals_ffmpegs_decode(make_media, name):
    path = _make(make_media, name)
    mine, theirs = _mine(path, chunk_seconds=3.3), _ffmpeg(path)
    # 20 s, and the AAC encoder's priming where no edit list says to skip it (fragments)
    assert len(mine) == (20 * 48000 if "frag" not in name else 20 * 48000 + 1024)
    # FFmpeg's demuxer keeps the encoder's padding after the edit's end: compare up to it
    assert len(theirs) >= len(mine)
    np.testing.assert_allclose(mine, theirs[:len(mine)], atol=1e-6)


@pytest.mark.parametrize("name", ["mp4", "fragmented"])
def test_probe_agrees_with_ffmpeg(make_media, name):
    path = _make(make_media, name)
    mine = plugins.create("sources", "pyav").probe(str(path))
    with demux._open(path) as opened:
        theirs = demux._media_info(opened.container, path)
    assert (mine.sample_rate, mine.channels, mine.has_video, mine.audio_codec,
            mine.video_codec, mine.container) == (
        theirs.sample_rate, theirs.channels, theirs.has_video, theirs.audio_codec,
        theirs.video_codec, theirs.container)
    assert mine.duration == pytest.approx(theirs.duration, abs=0.05)


@pytest.mark.parametrize("ext", ["mp4", "mov"])
def test_probe_describes_every_track_as_ffmpeg_does_without_its_demuxer(
        make_media, ext, monkeypatch):
    """Titles (a title, a handler's name), languages (ISO, QuickTime's), the rate and channels
    the decoder gives, a late start: what FFmpeg's demuxer says of each track, read from the
    boxes (FFmpeg's demuxer indexes every sample of every track to say it)."""
    tone = ["-f", "lavfi", "-i", "sine=f=300:d=6"]
    path = make_media(f"mp4-tracks.{ext}", *_VIDEO, *_AUDIO, *tone, "-itsoffset", "2", *tone,
                      "-map", "0:v",
                      "-map", "1:a", "-map", "2:a", "-map", "3:a", *_X264, *_AAC,
                      "-ac:a:0", "2", "-ac:a:1", "1", "-ar:a:2", "24000",
                      "-metadata:s:a:0", "title=Game", "-metadata:s:a:1", "handler_name=Mic",
                      "-metadata:s:a:1", "language=eng", "-metadata:s:a:2", "language=fre")
    with demux._open(path) as opened:
        theirs = demux._media_info(opened.container, path).tracks
    with monkeypatch.context() as m:
        m.setattr(demux, "_open", None)  # the probe must not open FFmpeg's demuxer
        mine = plugins.create("sources", "pyav").probe(str(path))
    assert mine.tracks == theirs
    assert [t.sample_rate for t in mine.tracks] == [48000, 44100, 24000]
    assert mine.tracks[2].start > 1.9 and mine.tracks[1].title == "Mic"


@pytest.mark.parametrize("name", ["mp4", "fragmented", "m4a"])
def test_segments_start_at_the_exact_sample(make_media, name):
    path = _make(make_media, name)
    whole = _mine(path)
    for start in (0.5, 7.0, 13.37):
        part = _mine(path, start=start, duration=4.0, chunk_seconds=1.1)
        first = int(round(start * 48000))
        assert len(part) == 4 * 48000
        # a decoder started a second early settles on the same samples, up to float rounding
        np.testing.assert_allclose(part, whole[first:first + len(part)], atol=2e-5)


def test_small_blocks_give_the_same_samples(make_media, monkeypatch):
    """Tables read a few entries at a time, runs and reads cut short: the same samples."""
    for name in ("mp4", "fragmented"):
        path = _make(make_media, name)
        whole = _mine(path)
        monkeypatch.setattr(mp4, "BLOCK", 3)
        monkeypatch.setattr(mp4, "RUN_SAMPLES", 5)
        monkeypatch.setattr(mp4, "READ_LIMIT", 700)
        np.testing.assert_array_equal(_mine(path), whole)
        np.testing.assert_allclose(_mine(path, start=9.0, duration=2.0),
                                   whole[9 * 48000:11 * 48000], atol=2e-5)
        monkeypatch.undo()


def test_an_offset_track_starts_where_players_put_it(make_media):
    """``-itsoffset 1.5`` writes an empty edit (1.5 s less the AAC priming, which is shown):
    players play that much silence first."""
    path = make_media("mp4-offset.mp4", *_VIDEO, "-itsoffset", "1.5", *_AUDIO, "-map", "0:v",
                      "-map", "1:a", *_X264, *_AAC)
    found = source._mp4_reader(path)
    lead = 72000 - 1024
    assert round(found.track.edit.lead * 48000) == lead
    mine, theirs = _mine(path), _ffmpeg(path)
    assert len(mine) == 20 * 48000 - 192  # the edit ends the track with the video
    assert not mine[:lead].any()
    np.testing.assert_allclose(mine[lead:], theirs[:len(mine) - lead], atol=1e-6)
    for start in (1.0, 1.4, 3.0):
        part = _mine(path, start=start, duration=2.0)
        first = int(start * 48000)
        np.testing.assert_allclose(part, mine[first:first + 96000], atol=2e-5)


def test_a_damaged_stretch_keeps_every_later_sample_at_its_time(make_media, tmp_path):
    """Zeroed bytes in the middle of the audio: the packets that fail to decode are silence
    as long as they were, so the track keeps its length and what follows lies where it did
    (FFmpeg's own decode drops them, and every later sample comes early)."""
    path = _make(make_media, "m4a")
    clean = _mine(path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16_000] = bytes(16_000)  # about 1 s at 128 kb/s
    damaged = tmp_path / "damaged.m4a"
    damaged.write_bytes(bytes(data))
    mine = _mine(damaged)
    assert len(mine) == len(clean)
    with av.open(str(damaged)) as container:  # FFmpeg's demuxer, skipping what fails
        decoded = 0
        for packet in container.demux(container.streams.audio[0]):
            try:
                decoded += sum(frame.samples for frame in packet.decode())
            except av.FFmpegError:
                continue
    assert decoded < len(clean) - 24_000
    # differences only around the damage (the decoder restarts there; a shift by even one
    # sample of this chord would differ by ~0.1 everywhere after it)
    hit = np.flatnonzero(np.abs(mine - clean) > 1e-3)
    assert 0 < hit[-1] - hit[0] < 2 * 48_000
    assert hit[-1] < len(clean) - 5 * 48_000
    np.testing.assert_allclose(mine[hit[-1] + 1:], clean[hit[-1] + 1:], atol=1e-3)


# A quiet tone with a loud one from 12 s to 13 s of the audio.
_BURST = ["-f", "lavfi", "-i", "aevalsrc='0.05*sin(2*PI*440*t)+0.8*between(t,12,13)"
          "*sin(2*PI*880*t)':s=48000:d=20"]


def _burst_starts(samples: np.ndarray) -> float:
    """Seconds at which the loud tone starts."""
    return int(np.flatnonzero(np.abs(samples) > 0.4)[0]) / 48000


def _gapped(source: Path, target: Path, start: float, end: float) -> Path:
    """``source`` remuxed without its audio packets from ``start`` to ``end`` s (a stream
    that lost packets: the timestamps jump)."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            if packet.stream.type == "audio" and start <= packet.pts * packet.time_base < end:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return target


@pytest.mark.parametrize("case, burst, length", [
    # ffmpeg writes a late start in an empty-moov fragmented file as a first sample 3 s long
    ("late in fragments", 15.0, 23.0),
    # an audio-only file whose track starts late: the players' 0 is the track's start
    ("audio only, late", 12.0, 20.0),
    # the timestamps jump over 5-8 s: the last sample before the jump lasts 3 s more
    ("packets lost", 12.0, 20.0),
])
def test_time_without_audio_keeps_its_place(make_media, tmp_path, case, burst, length):
    """Where a track has no audio — a late start, lost packets — m0's reader puts silence
    as long as the timeline says, so the moment after it lies where players show it."""
    if case == "late in fragments":
        path = make_media("mp4-late-fragments.mp4", *_VIDEO[:-1], "testsrc2=size=160x120:"
                          "rate=15:duration=23", "-itsoffset", "3", *_BURST, "-map", "0:v",
                          "-map", "1:a", *_X264, *_AAC, "-movflags", "frag_keyframe+empty_moov")
    elif case == "audio only, late":
        path = make_media("mp4-late-audio.m4a", "-itsoffset", "3", *_BURST, *_AAC)
    else:
        plain = make_media("mp4-burst.mp4", *_VIDEO, *_BURST, *_X264, *_AAC)
        path = _gapped(plain, tmp_path / "gapped.mp4", 5.0, 8.0)
    mine = _mine(path)
    with av.open(str(path)) as container:  # FFmpeg's demuxer: the players' timeline
        assert container.duration / 1e6 == pytest.approx(length, abs=0.1)
    assert _burst_starts(mine) == pytest.approx(burst, abs=0.03)
    assert len(mine) / 48000 == pytest.approx(length, abs=0.1)
    assert source.PyAVSource().probe(str(path)).duration == pytest.approx(length, abs=0.1)


def test_a_fragmented_file_with_samples_in_its_moov_lasts_to_its_last_fragment(make_media):
    """The mvhd of a fragmented file counts only the samples in its moov (the first
    fragment's here): the duration is the audio's end, as FFmpeg's demuxer reports it."""
    path = _make(make_media, "fragmented-moov-samples")
    with av.open(str(path)) as container:
        assert container.duration / 1e6 == pytest.approx(20.0, abs=0.05)
    assert mp4.open_movie(path).duration < 5
    assert source.PyAVSource().probe(str(path)).duration == pytest.approx(20.0, abs=0.05)
    assert plugins.create("sources", "pyav").outline(str(path)).duration == pytest.approx(
        20.0, abs=0.05)


def test_co64_chunk_offsets(make_media, tmp_path):
    """64-bit chunk offsets (files over 4 GB): the same file with its stco made a co64."""
    path = _make(make_media, "mp4")
    wide = tmp_path / "co64.mp4"
    wide.write_bytes(_stco_to_co64(path.read_bytes()))
    found = source._mp4_reader(wide)
    assert found.track.chunks.dtype.itemsize == 8
    np.testing.assert_array_equal(_mine(wide), _mine(path))


def _stco_to_co64(data: bytes) -> bytes:
    """The file with every stco box rewritten as co64. The moov must follow the mdat (no
    faststart), so the sample data does not move."""
    def rewrite(buf: bytes) -> bytes:
        out, pos = b"", 0
        while pos + 8 <= len(buf):
            size, kind = struct.unpack(">I4s", buf[pos:pos + 8])
            body = buf[pos + 8:pos + size]
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
                body = rewrite(body)
            elif kind == b"stco":
                (count,) = struct.unpack(">I", body[4:8])
                offsets = struct.unpack(f">{count}I", body[8:8 + 4 * count])
                body = body[:8] + struct.pack(f">{count}Q", *offsets)
                kind = b"co64"
            out += struct.pack(">I4s", len(body) + 8, kind) + body
            pos += size
        return out

    moov = data.rindex(b"moov") - 4
    assert data.index(b"mdat") < moov, "the moov must come last"
    return data[:moov] + rewrite(data[moov:])


@pytest.mark.parametrize(("codec", "ext", "tolerance"), [
    ("alac", "m4a", 0), ("ac3", "mp4", 0), ("libmp3lame", "mp4", 1e-6)])
def test_other_codecs(make_media, codec, ext, tolerance):
    path = make_media(f"mp4-{codec}.{ext}", *_AUDIO, "-c:a", codec)
    mine, theirs = _mine(path), _ffmpeg(path)
    found = source._mp4_reader(path)
    assert len(mine) == round(found.track.edit.length * 48000)
    np.testing.assert_allclose(mine, theirs[:len(mine)], atol=tolerance)


def test_opus_is_left_to_ffmpeg(make_media):
    path = make_media("mp4-opus.mp4", *_AUDIO, "-c:a", "libopus")
    assert source._mp4_reader(path) is None


def test_a_codec_it_does_not_read_falls_back_to_ffmpeg(make_media):
    path = make_media("mp4-pcm.mov", *_AUDIO, "-c:a", "pcm_s16le")
    with pytest.raises(mp4.Unsupported):
        reader.AudioReader(path)
    chunks = list(plugins.create("sources", "pyav").chunks(str(path)))
    assert sum(len(c.samples) for c in chunks) == 20 * 48000


def test_memory_does_not_hold_the_tables(make_media):
    """Nothing sized by the file's length is kept: the reader holds box positions only."""
    path = _make(make_media, "m4a")
    found = reader.AudioReader(path)
    sizes = found.track.sizes.table
    assert sizes.count > 900 and mp4.BLOCK < sizes.count * 8
    assert not any(isinstance(v, np.ndarray) for v in vars(found.track).values())


@pytest.mark.parametrize("name", ["mp4", "fragmented", "m4a"])
def test_the_outline_is_the_probe_read_without_a_decoder(make_media, name):
    """What the boxes declare equals what the probe says (with the decoder's rate and
    channels) on these files, the duration of a fragmented one (its end) included."""
    path = _make(make_media, name)
    pyav = plugins.create("sources", "pyav")
    assert pyav.outline(str(path)) == pyav.probe(str(path))
