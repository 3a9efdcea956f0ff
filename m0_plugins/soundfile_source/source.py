"""Read audio files with libsndfile through python-soundfile, block by block."""

from __future__ import annotations

from collections.abc import Iterator

from m0core.errors import InputError
from m0core.media.ffmpeg import check_input_file
from m0core.model import AudioChunk, MediaInfo


class SoundfileSource:
    """Audio files libsndfile reads (wav, flac, ogg, mp3 with libsndfile >= 1.1)."""

    def probe(self, path: str) -> MediaInfo:
        """Duration, rate and channels from the file header."""
        import soundfile as sf  # imported on use: libsndfile costs memory in every process

        p = check_input_file(path)
        try:
            info = sf.info(str(p))
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise InputError(f"{p}: not an audio file soundfile can read ({exc})") from None
        return MediaInfo(
            path=str(p), duration=info.frames / info.samplerate, sample_rate=info.samplerate,
            channels=info.channels, has_audio=True, has_video=False,
            audio_codec=info.subtype.lower(), container=info.format.lower(),
            size=p.stat().st_size,
        )

    def chunks(
        self,
        path: str,
        *,
        chunk_seconds: float = 10.0,
        start: float = 0.0,
        duration: float | None = None,
    ) -> Iterator[AudioChunk]:
        """Yield mono float32 chunks; channels are averaged."""
        import soundfile as sf

        info = self.probe(path)
        rate = info.sample_rate
        first = int(round(start * rate))
        frames = -1 if duration is None else int(round(duration * rate))
        blocksize = max(1, int(round(chunk_seconds * rate)))
        position = first
        try:
            for block in sf.blocks(str(path), blocksize=blocksize, dtype="float32",
                                   always_2d=True, start=first, frames=frames):
                yield AudioChunk(block.mean(axis=1), rate, position / rate)
                position += len(block)
        except sf.LibsndfileError as exc:
            raise InputError(f"{path}: could not decode the audio ({exc})") from None
