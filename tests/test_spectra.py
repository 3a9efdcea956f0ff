"""The spectra of the audio (m0core.judge.spectra): 48 mel bands 20 times a second, made where
the audio is decoded, as librosa makes them, whatever the chunks; nothing under 22.05 kHz."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from m0core.judge import spectra

RATES = (48000, 44100, 32000, 24000, 22050)


@pytest.mark.parametrize("rate", RATES)
def test_the_mel_filters_are_librosa_s(rate):
    n_fft = spectra.frame_size(rate)
    ours = spectra.mel_filters(rate, n_fft)
    theirs = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=spectra.BANDS,
                                 fmin=spectra.FMIN, fmax=spectra.FMAX)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("rate", [48000, 32000, 24000])
def test_spectra_are_librosa_s_mel_spectrogram_in_half_db_steps(rate):
    """Each frame: the first ``frame_size`` samples of its 50 ms (librosa's frames at a hop
    of rate / 20 without centring; at 44.1 kHz and over, of the samples summed in pairs), power
    over a full-scale sine's, in 0.5-dB codes."""
    x = np.random.default_rng(rate).standard_normal(rate * 20).astype(np.float32) * 0.1
    codes = spectra.Spectra(rate).feed(x)
    pairs = rate >= 44100
    y, sr = (x[0::2] + x[1::2], rate // 2) if pairs else (x, rate)
    points = spectra.frame_size(rate) // (2 if pairs else 1)
    power = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=points, hop_length=sr // spectra.FPS, center=False,
        n_mels=spectra.BANDS, fmin=spectra.FMIN, fmax=spectra.FMAX).T
    sine = np.hanning(points + 1)[:-1].sum() / 2 * (2 if pairs else 1)
    expected = 10 * np.log10(power / sine ** 2)
    assert codes.shape == (20 * spectra.FPS, spectra.BANDS) == expected.shape
    assert np.abs(spectra.decode(codes) - expected).max() <= 0.25 + 1e-3


@pytest.mark.parametrize("rate", RATES)
def test_spectra_do_not_depend_on_how_the_audio_is_cut(rate):
    x = np.random.default_rng(1).standard_normal(rate * 30).astype(np.float32) * 0.2
    whole = spectra.Spectra(rate).feed(x)
    cuts = np.sort(np.random.default_rng(2).integers(0, len(x), 40))
    pieces = spectra.Spectra(rate)
    cut = np.concatenate([pieces.feed(part) for part in np.split(x, cuts)])
    assert len(whole) == 30 * spectra.FPS
    np.testing.assert_array_equal(whole, cut)


def test_a_tone_is_heard_in_its_band_and_silence_is_the_lowest_code():
    rate = 48000
    t = np.arange(rate * 2) / rate
    codes = spectra.Spectra(rate).feed(np.sin(2 * np.pi * 1000 * t).astype(np.float32) * 0.5)
    centres = librosa.mel_frequencies(spectra.BANDS + 2, fmin=spectra.FMIN, fmax=spectra.FMAX)
    loudest = int(np.bincount(codes.argmax(axis=1)).argmax())
    assert centres[loudest] < 1000 < centres[loudest + 2]
    assert (spectra.Spectra(rate).feed(np.zeros(rate, dtype=np.float32)) == 0).all()


def test_no_spectra_under_the_lowest_rate():
    with pytest.raises(ValueError, match="22050 Hz or more"):
        spectra.Spectra(16000)


def test_aligned_drops_what_was_had_and_fills_a_gap_with_silence():
    codes = np.full((3, spectra.BANDS), 7, dtype=np.uint8)
    assert len(spectra.aligned(codes, 10, 12)) == 1
    filled = spectra.aligned(codes, 10, 8)
    assert len(filled) == 5 and (filled[:2] == 0).all() and (filled[2:] == 7).all()
    assert len(spectra.aligned(codes, 10, 10)) == 3


def test_pieces_give_each_stretch_of_the_curve_the_spectra_of_its_audio():
    codes = np.arange(100 * spectra.BANDS, dtype=np.uint8).reshape(100, spectra.BANDS)
    got = list(spectra.pieces(25, 0.2, 10, codes[5:], 5))  # 5 s of curve, audio from 0.25 s
    assert [(p.start, p.stop) for p, _, _ in got] == [(0, 10), (10, 20), (20, 30)]
    assert [(first, len(heard)) for _, heard, first in got] == [(5, 35), (40, 40), (80, 20)]
    np.testing.assert_array_equal(np.concatenate([h for _, h, _ in got]), codes[5:])
    assert [len(h) for _, h, _ in spectra.pieces(25, 0.2, 10)] == [0, 0, 0]


def test_heard_counts_frames_from_the_first_chunk_s_time_and_skips_low_rates():
    from m0core.model import AudioChunk

    x = np.random.default_rng(8).standard_normal(48000).astype(np.float32) * 0.1
    heard = spectra.Heard()
    codes, first = heard.feed(AudioChunk(x[:24000], 48000, 2.5))  # audio from 2.5 s
    more, after = heard.feed(AudioChunk(x[24000:], 48000, 3.0))
    assert (first, len(codes), after, len(more)) == (50, 10, 60, 10)
    np.testing.assert_array_equal(np.concatenate([codes, more]), spectra.Spectra(48000).feed(x))
    low = spectra.Heard()
    assert [len(low.feed(AudioChunk(x[:8000], 16000, 0.0))[0]) for _ in range(2)] == [0, 0]
