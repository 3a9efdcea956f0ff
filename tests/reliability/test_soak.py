"""Soak: 120 analyses of a short file in one process through the library API leak no memory,
no file descriptors and no processes (about 20 s on 2 cores: the slow tier, ``pytest -m slow``,
which CI runs after the default one)."""

from __future__ import annotations

import gc

import psutil
import pytest

import m0core

RUNS = 120


@pytest.mark.slow
def test_many_runs_leak_nothing(make_media, tmp_path):
    short = make_media("soak.wav", "-f", "lavfi", "-i",
                       "anoisesrc=a=0.02:d=6:r=16000,volume='1+25*between(t,3,4)':eval=frame")
    me = psutil.Process()

    def run(i: int) -> None:
        # one run in four decodes in a worker process (the default), the others here
        # (jobs=0): both ways are soaked, at a quarter of the workers' start-up time
        result = m0core.analyze(short, tmp_path / f"out{i % 3}", clips=True, cache=False,
                                report=False, workers=1, jobs=0 if i % 4 else 2)
        assert len(result.highlights) == 1 and result.clips[0].ok

    for i in range(12):  # warm up: imports, plugin loading, thread pools, allocator arenas
        run(i)
    gc.collect()
    rss, fds = me.memory_info().rss, me.num_fds()
    for i in range(RUNS):
        run(i)
    gc.collect()
    grown = (me.memory_info().rss - rss) / 2**20
    assert grown <= 4, f"RSS grew by {grown:.1f} MB over {RUNS} runs"
    assert me.num_fds() <= fds
    assert me.children(recursive=True) == []
