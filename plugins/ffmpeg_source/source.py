"""Decode the first audio stream with ffmpeg, chunk by chunk, in constant memory."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from m0core.errors import InputError, OptionError
from m0core.ffmpeg import base_command, check_input_file, input_arg, probe, reason, stop_process
from m0core.model import AudioChunk, MediaInfo

_BYTES_PER_SAMPLE = 4  # f32le


class FFmpegSource:
    """Audio from any file ffmpeg can read.

    Parameters
    ----------
    sample_rate:
        Resample to this rate (Hz); ``None`` keeps the file's own rate.
    """

    def __init__(self, sample_rate: int | None = None) -> None:
        if sample_rate is not None and not 1000 <= int(sample_rate) <= 768000:
            raise OptionError(f"sample_rate must be between 1000 and 768000 Hz, not {sample_rate}")
        self.sample_rate = int(sample_rate) if sample_rate else None
        self._probed: dict[str, MediaInfo] = {}

    def probe(self, path: str) -> MediaInfo:
        """Duration and streams of ``path``; :class:`InputError` if ffmpeg cannot open it."""
        info = probe(path)
        if self.sample_rate and info.has_audio:
            info = replace(info, sample_rate=self.sample_rate)
        self._probed[os.fspath(path)] = info
        return info

    def chunks(
        self,
        path: str,
        *,
        chunk_seconds: float = 10.0,
        start: float = 0.0,
        duration: float | None = None,
    ) -> Iterator[AudioChunk]:
        """Yield mono float32 chunks of ``chunk_seconds`` from ``start`` for ``duration`` s.

        ffmpeg seeks on the input side (``-ss`` before ``-i``) and writes raw f32le to a pipe;
        only one chunk is held at a time. The ffmpeg process is always reaped, also when the
        consumer stops early.
        """
        check_input_file(path)
        info = self._probed.get(os.fspath(path)) or self.probe(path)
        if not info.has_audio:
            raise InputError(f"{path}: has no audio stream")
        rate = self.sample_rate or info.sample_rate or 48000
        cmd = base_command()
        if start > 0:
            cmd += ["-ss", f"{start:.6f}"]
        cmd += ["-i", input_arg(path)]
        if duration is not None:
            cmd += ["-t", f"{duration:.6f}"]
        cmd += ["-map", "0:a:0", "-vn", "-sn", "-dn", *_downmix(info.channels),
                "-ar", str(rate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
        chunk_samples = max(1, int(round(chunk_seconds * rate)))
        chunk_bytes = chunk_samples * _BYTES_PER_SAMPLE
        with tempfile.TemporaryFile() as errfile:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errfile, bufsize=0)
            position = 0
            try:
                while True:
                    data = _read_exactly(proc.stdout, chunk_bytes)
                    usable = len(data) - len(data) % _BYTES_PER_SAMPLE
                    if usable:
                        samples = np.frombuffer(data[:usable], dtype="<f4")
                        yield AudioChunk(samples, rate, start + position / rate)
                        position += len(samples)
                    if len(data) < chunk_bytes:
                        break
                code = proc.wait()
            finally:
                stop_process(proc)
            errfile.seek(0)
            errors = errfile.read().decode("utf-8", "replace")
        decoded = position / rate
        if code != 0:
            raise InputError(f"{path}: ffmpeg could not decode the audio ({reason(errors)})")
        expected = info.duration - start if info.duration is not None else None
        if duration is not None and expected is not None:
            expected = min(expected, duration)
        if errors.strip() and expected and decoded < expected - max(1.0, 0.02 * expected):
            raise InputError(
                f"{path}: file is truncated or damaged: audio stops at {decoded:.1f} s of "
                f"{expected:.1f} s ({reason(errors)})"
            )


def _downmix(channels: int) -> list[str]:
    """Average the channels, as the soundfile source does.

    ffmpeg's own ``-ac 1`` adds stereo channels at -3 dB each, so identical channels would
    read 3 dB hotter than either (and could exceed full scale).
    """
    if channels <= 1:
        return ["-ac", "1"]
    gain = f"{1 / channels:.6f}"
    mix = "+".join(f"{gain}*c{i}" for i in range(channels))
    return ["-af", f"pan=mono|c0={mix}"]


def _read_exactly(stream, size: int) -> bytes:
    """Read ``size`` bytes unless the stream ends first."""
    parts = []
    remaining = size
    while remaining:
        block = stream.read(remaining)
        if not block:
            break
        parts.append(block)
        remaining -= len(block)
    return b"".join(parts)
