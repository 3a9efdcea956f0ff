"""``onset``: onset strength (spectral flux) per hop, streaming in constant memory.

librosa's ``onset_strength`` on a log-power mel spectrogram: for each frame, the mean over
mel bands of how many dB each band rose since the previous frame (rises only). Frames are
``n_fft`` samples long, ``hop / 10`` apart and centred on their time (the stream is padded
with silence at both ends, as librosa's ``center=True``); each score value is the strongest
flux among the frames centred in its hop, as ``10·log10(flux)`` ("dB of flux": a steady
noise bed sits around 3–6, a clap or a shout's attack 10–15; silence is ``floor_db``).

The samples a frame needs past the end of a chunk wait for the next chunk, and the previous
frame's spectrum is carried, so values do not depend on how the stream was cut. Unlike
librosa's default, the spectrogram is not clipped to 80 dB below its maximum (that maximum
would need the whole file).
"""

from __future__ import annotations

import numpy as np

from m0core import checks
from m0core.checks import whole
from m0core.errors import OptionError
from m0core.model import AudioChunk

#: Flux frames per score value.
FRAMES_PER_HOP = 10


class Onset:
    """Onset strength in dB of flux per ``hop``.

    Parameters
    ----------
    hop:
        Seconds per score value (default 0.1).
    n_fft:
        Samples per spectrum frame (default 2048: 43 ms at 48 kHz).
    n_mels:
        Mel bands.
    floor_db:
        Value reported when nothing rises (silence).
    """

    version = "1"
    unit = "dB of flux"

    def __init__(self, hop: float = 0.1, n_fft: int = 2048, n_mels: int = 64,
                 floor_db: float = -30.0) -> None:
        checks.hop(hop)
        whole("n_fft", n_fft, low=64, high=65536)
        whole("n_mels", n_mels, low=1, high=512)
        checks.floor_db(floor_db)
        self.hop = float(hop)
        self.n_fft = n_fft
        self.n_mels = n_mels
        self.floor_db = float(floor_db)
        self._rate = 0
        self._buf = np.zeros(n_fft // 2, dtype=np.float32)  # padded stream from _base
        self._base = 0         # padded-stream index of _buf[0]
        self._frame = 0        # next frame to compute
        self._prev: np.ndarray | None = None  # log-mel spectrum of the previous frame
        self._value = 0        # score value the carried maximum belongs to
        self._max = 0.0        # strongest flux so far in that value
        self._samples = 0

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        """Onset strength of the hops this chunk completes."""
        if not self._rate:
            self._rate = chunk.sample_rate
            self._hop_n = max(1, round(self.hop * self._rate))
            self._step = max(1, self._hop_n // FRAMES_PER_HOP)
        elif chunk.sample_rate != self._rate:
            raise OptionError("onset: the sample rate changed within the stream")
        self._samples += len(chunk.samples)
        self._buf = np.concatenate([self._buf, chunk.samples])
        return self._run(final=False)

    def finish(self) -> np.ndarray:
        """The hops that reach the end, with silence after it."""
        if not self._rate:
            return np.zeros(0, dtype=np.float32)
        self._buf = np.concatenate([self._buf, np.zeros(self.n_fft // 2, dtype=np.float32)])
        return self._run(final=True)

    def _run(self, final: bool) -> np.ndarray:
        import librosa  # slow to import; only this analyzer needs it

        if final:  # every frame centred before the end of the stream
            stop = -(-self._samples // self._step)
        else:
            stop = (self._base + len(self._buf) - self.n_fft) // self._step + 1
        stop = max(stop, self._frame)
        flux = np.zeros(0)
        if stop > self._frame:
            first = self._frame * self._step - self._base
            y = self._buf[first:first + (stop - self._frame - 1) * self._step + self.n_fft]
            mel = librosa.feature.melspectrogram(
                y=y, sr=self._rate, n_fft=self.n_fft, hop_length=self._step, center=False,
                n_mels=self.n_mels)
            log_mel = librosa.power_to_db(mel, top_db=None)
            prev = log_mel[:, :1] if self._prev is None else self._prev
            flux = librosa.onset.onset_strength(
                S=np.concatenate([prev, log_mel], axis=1), lag=1, max_size=1,
                center=False)[1:]
            self._prev = log_mel[:, -1:]
        owners = (np.arange(self._frame, stop) * self._step) // self._hop_n
        self._frame = stop
        drop = stop * self._step - self._base
        self._buf = self._buf[drop:].copy()
        self._base += drop
        return self._emit(owners, flux, -(-self._samples // self._hop_n) if final else None)

    def _emit(self, owners: np.ndarray, flux: np.ndarray, total: int | None) -> np.ndarray:
        """Fold frame fluxes into per-hop maxima; return the hops now complete."""
        done: list[float] = []
        for owner, value in zip(owners.tolist(), flux.tolist(), strict=True):
            while owner > self._value:
                done.append(self._max)
                self._value, self._max = self._value + 1, 0.0
            self._max = max(self._max, value)
        if total is not None:
            while self._value < total:
                done.append(self._max)
                self._value, self._max = self._value + 1, 0.0
        floor = 10.0 ** (self.floor_db / 10.0)
        return (10.0 * np.log10(np.maximum(np.asarray(done, dtype=np.float64), floor))
                ).astype(np.float32)

