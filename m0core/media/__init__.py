"""Helpers for media files shared by the core and the built-in plugins: running ffmpeg and
ffprobe, downmixing decoded audio, embedding chapters."""
