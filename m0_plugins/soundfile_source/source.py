"""Read audio files with libsndfile through python-soundfile, block by block."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from m0core import checks
from m0core.errors import InputError
from m0core.media.ffmpeg import check_input_file, check_track, players_duration
from m0core.model import AudioChunk, AudioTrack, MediaInfo


class SoundfileSource:
    """Audio files libsndfile reads (wav, flac, ogg, mp3 with libsndfile >= 1.1).

    Such a file has one audio track starting at 0, so ``audio_track`` may be 1 or ``"all"``.
    """

    def __init__(self, audio_track: int | str = 1) -> None:
        self.audio_track = checks.audio_track(audio_track)

    def probe(self, path: str) -> MediaInfo:
        """Duration, rate and channels from the file header."""
        import soundfile as sf  # imported on use: libsndfile costs memory in every process

        p = check_input_file(path)
        try:
            info = sf.info(str(p))
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise InputError(f"{p}: not an audio file soundfile can read ({exc})") from None
        media = MediaInfo(
            path=str(p), sample_rate=info.samplerate,
            duration=players_duration(info.format.lower(), info.frames / info.samplerate, 0.0,
                                      p),
            channels=info.channels, has_audio=True, has_video=False,
            audio_codec=info.subtype.lower(), container=info.format.lower(),
            size=p.stat().st_size, tracks=(AudioTrack(
                1, info.subtype.lower(), info.channels, info.samplerate, 0.0),),
        )
        check_track(p, media, self.audio_track)
        return media

    def chunks(
        self,
        path: str,
        *,
        chunk_seconds: float = 10.0,
        start: float = 0.0,
        duration: float | None = None,
    ) -> Iterator[AudioChunk]:
        """Yield mono float32 chunks; channels are averaged. A file cut short ends where its
        audio does (the run measures it), whatever length its header declares."""
        import soundfile as sf

        info = self.probe(path)
        rate = info.sample_rate
        first = int(round(start * rate))
        left = None if duration is None else int(round(duration * rate))
        size = max(1, int(round(chunk_seconds * rate)))
        position = first
        try:
            # not soundfile.blocks: past the end of a file cut short it yields its buffer again
            for block in _blocks(path, first, left, size, max(1, rate // 100)):
                yield AudioChunk(block.mean(axis=1), rate, position / rate)
                position += len(block)
        except sf.LibsndfileError as exc:
            if position == first:  # nothing decoded: not a cut
                raise InputError(f"{path}: could not decode the audio ({exc})") from None


def _blocks(path: str, first: int, left: int | None, size: int, piece: int
            ) -> Iterator[np.ndarray]:
    """``(frames, channels)`` float32 blocks of ``size`` frames of ``path`` from frame
    ``first`` (``left`` frames, ``None``: to the end). A block that the end of a file cut short
    cuts in two (a FLAC's half frame: libsndfile's read fails, and so does any later call on
    the file) is read again from a fresh open in blocks of ``piece`` frames, up to there."""
    import soundfile as sf

    position = first
    while left is None or left > 0:
        with sf.SoundFile(path) as f:
            if position:
                f.seek(position)
            while left is None or left > 0:
                want = size if left is None else min(size, left)
                try:
                    block = f.read(want, dtype="float32", always_2d=True)
                except sf.LibsndfileError:
                    if size <= piece:
                        raise
                    size = piece
                    break
                if len(block):
                    yield block
                position += len(block)
                left = None if left is None else left - len(block)
                if len(block) < want:
                    return
