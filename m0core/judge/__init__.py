"""What a moment sounds like: the spectra of a stream (:mod:`~m0core.judge.spectra`), made
where its audio is decoded, and the learned check of the moments a selector keeps
(:mod:`~m0core.judge.check`, trained by :mod:`m0core.dev.judge_training`)."""
