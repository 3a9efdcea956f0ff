"""Segment-parallel analysis equals the sequential run."""

from __future__ import annotations

import numpy as np
import pytest

import m0core
from m0_plugins.pyav_source.source import PyAVSource
from m0core.dev import synth
from m0core.pipeline.segments import plan_segments


def test_plan_covers_the_file_on_hop_boundaries():
    plan = plan_segments(3600.0, 4, 0.1)
    assert len(plan) == 8 and plan[0][0] == 0.0 and plan[-1][1] is None  # two a worker
    for (start, length), (following, _) in zip(plan, plan[1:], strict=False):
        assert following == pytest.approx(start + length)
        assert round(start / 0.1, 6) == int(round(start / 0.1))
    assert plan_segments(100.0, 4, 0.1) == [(0.0, None)]
    assert plan_segments(None, 4, 0.1) == [(0.0, None)]
    assert plan_segments(3600.0, 1, 0.1) == [(0.0, None)]
    assert len(plan_segments(1000.0, 8, 0.1)) == 3  # none under 300 s
    assert len(plan_segments(3600.0, 8, 0.1)) == 8  # as many a worker: one
    assert len(plan_segments(6 * 3600.0, 2, 0.1)) == 4  # PER_WORKER


@pytest.fixture(scope="module")
def twenty_minutes(tmp_path_factory):
    """A 20-minute recording with moments planted at known times: four segments with two
    jobs."""
    path = tmp_path_factory.mktemp("twenty") / "twenty.wav"
    return path, synth.write_audio(path, 1200.0, seed=5)


def test_a_few_segments_a_worker_each_taken_by_the_next_free_worker(twenty_minutes,
                                                                    monkeypatch):
    """20 minutes with two jobs is four segments of 5 minutes, decoded by two worker
    processes, each taking the next segment in time order once it is free: two workers
    started, four segments taken, the same curve bit for bit as one pass in this process."""
    from m0core import workers
    from m0core.pipeline import segments

    path, events = twenty_minutes
    started, taken = [], []
    real_start, real_take = workers.start, segments.Decoders.take

    def start(module, **kwargs):
        worker = real_start(module, **kwargs)
        started.append(worker.proc.pid)
        return worker

    def take(self, index):
        worker = real_take(self, index)
        taken.append((index, worker.proc.pid))
        return worker

    monkeypatch.setattr(workers, "start", start)
    monkeypatch.setattr(segments.Decoders, "take", take)
    par = m0core.analyze(path, None, clips=False, jobs=2, cache=False)
    here = m0core.analyze(path, None, clips=False, jobs=0, cache=False)
    assert len(plan_segments(par.media.duration, 2, par.hop)) == 4
    assert len(started) == 2
    assert sorted(index for index, _ in taken) == [0, 1, 2, 3]
    assert {pid for _, pid in taken} == set(started)
    np.testing.assert_array_equal(par.scores, here.scores)
    assert [h.to_dict() for h in par.highlights] == [h.to_dict() for h in here.highlights]
    assert synth.match_events(events, par.highlights).recall >= 0.8


def test_a_worker_killed_on_a_later_segment_fails_the_run_and_stops_the_others(
        twenty_minutes, monkeypatch, tmp_path):
    """A worker killed while it decodes its second segment (the kernel's OOM killer, say)
    fails the run with one line saying so; the other worker is stopped too, and no folder is
    left half written."""
    import psutil

    from m0core.errors import M0Error
    from m0core.pipeline import segments

    path, _ = twenty_minutes
    real_take = segments.Decoders.take

    def take(self, index):
        worker = real_take(self, index)
        if index == 2:
            worker.kill()
        return worker

    monkeypatch.setattr(segments.Decoders, "take", take)
    with pytest.raises(M0Error, match=r"a decoding worker died \(exit code -9"):
        m0core.analyze(path, tmp_path / "out", clips=False, jobs=2, cache=False)
    assert psutil.Process().children(recursive=True) == []
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def long_vod(tmp_path_factory):
    path = tmp_path_factory.mktemp("seg") / "long.mp4"
    events = synth.write_vod(path, 660.0, size="160x120", fps=5, seed=4)
    return path, events


def test_parallel_equals_sequential(long_vod):
    """Two segments in two workers, the whole file in one worker (``jobs=1``) and the whole
    file in this process (``jobs=0``) give the same curve, bit for bit, at the seam too (a
    worker decodes from before its segment and drops what it decoded before it), so the
    same highlights. (Not so where an AAC encoder substituted noise: README, ``--jobs``.)"""
    path, events = long_vod
    here = m0core.analyze(path, None, clips=False, jobs=0, cache=False)
    one = m0core.analyze(path, None, clips=False, jobs=1, cache=False)
    par = m0core.analyze(path, None, clips=False, jobs=2, cache=False)
    assert len(plan_segments(par.media.duration, 2, here.hop)) == 2
    np.testing.assert_array_equal(one.scores, here.scores)
    np.testing.assert_array_equal(par.scores, here.scores)
    for seq in (here, one):
        assert [(h.start, h.end, h.peak_time, h.kind) for h in par.highlights] == \
            [(h.start, h.end, h.peak_time, h.kind) for h in seq.highlights]
    assert synth.match_events(events, par.highlights).recall == 1.0


def test_one_job_decodes_in_one_worker_and_zero_in_this_process(vod):
    """``jobs=1`` decodes the whole file in one worker process, so m0's own process never
    loads the decoder (a worker is the largest process, as with the default); ``jobs=0``
    decodes in m0's own process and starts no worker."""
    import json
    import subprocess
    import sys

    code = ("import json, sys, m0core\n"
            "from m0core import workers\n"
            "started, start = [], workers.start\n"
            "workers.start = lambda module, **kw: started.append(module) or start(module, **kw)\n"
            "r = m0core.analyze(sys.argv[1], None, clips=False, cache=False,\n"
            "                   jobs=int(sys.argv[2]))\n"
            "print(json.dumps([[h.peak_time for h in r.highlights], 'av' in sys.modules,\n"
            "                  started]))")
    runs = {jobs: json.loads(subprocess.run([sys.executable, "-c", code, str(vod), str(jobs)],
                                            capture_output=True, text=True, check=True).stdout)
            for jobs in (0, 1)}
    assert runs[1][1:] == [False, ["m0core.pipeline.segments"]]
    assert runs[0][1:] == [True, []]
    assert runs[0][0] == runs[1][0] and len(runs[0][0]) >= 2


def test_on_one_core_the_default_decodes_in_this_process(vod, monkeypatch):
    """On one core a decoding worker would only add its start-up: by default m0's own
    process decodes (as with ``jobs=0``, and as a batch job whose share is one core) and no
    worker is prestarted; ``jobs=1`` still asks for one worker."""
    import os

    from m0core import pipeline, workers
    from m0core.options import Options
    from m0core.pipeline.plan import resolve

    assert (workers.decoders(None, 1), workers.decoders(None, 4), workers.decoders(1, 1)) == \
        (0, 4, 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert resolve(vod, Options(cache=False)).in_process
    assert not resolve(vod, Options(cache=False, jobs=1)).in_process
    pipeline.prestart(vod, cache=False)
    assert not workers._spares.get(workers.SEGMENTS)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert not resolve(vod, Options(cache=False)).in_process


def test_workers_leave_no_process_and_name_a_failing_analyzer(long_vod, tmp_path):
    import psutil

    from m0core.errors import OptionError

    path, _ = long_vod
    m0core.analyze(path, None, clips=False, jobs=2, cache=False)
    assert psutil.Process().children(recursive=True) == []
    with pytest.raises(OptionError, match="hop must be between"):
        m0core.analyze(path, None, clips=False, jobs=2, cache=False,
                       analyzer_params={"hop": 99})


def test_a_file_cut_short_is_analysed_in_parallel_up_to_its_cut(long_vod, tmp_path):
    """A video file cut short after its probe, decoded in two segments: it was 'file is
    truncated or damaged' (the second segment's worker). It stops inside its container's
    last unit: analysed up to where its audio ends, with a warning. One whose bytes go on
    past where its audio stops (zeros: damage) is that error, as it was, nothing written."""
    from m0core.errors import InputError
    from m0core.testing import run_ffmpeg

    path, _ = long_vod
    copy = tmp_path / "copy.mkv"
    run_ffmpeg("-i", str(path), "-c", "copy", str(copy))
    data = copy.read_bytes()
    cut, damaged = tmp_path / "cut.mkv", tmp_path / "damaged.mkv"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    damaged.write_bytes(data[: int(len(data) * 0.7)].ljust(len(data), b"\0"))
    result = m0core.analyze(cut, None, clips=False, jobs=2, cache=False)
    assert 0.6 * 660 < result.media.duration < 0.8 * 660
    assert [w.split(": ")[1] for w in result.warnings] == ["looks cut short"]
    assert all(h.end <= result.media.duration for h in result.highlights)
    with pytest.raises(InputError, match="truncated or damaged"):
        m0core.analyze(damaged, tmp_path / "out", jobs=2, cache=False)
    assert not (tmp_path / "out" / "highlights.json").exists()


def test_a_worker_loads_only_the_plugins_of_its_stages(vod, fake_dist, tmp_path, monkeypatch):
    """A worker imports the plugins that provide its source and analyzer, not every installed
    one (another plugin's import, here one that leaves a mark, never runs in it)."""
    from m0core import plugins
    from m0core.pipeline.segments import SegmentJob, scores_from_worker

    mark = tmp_path / "imported"
    env = fake_dist("m0-marker", f"open({str(mark)!r}, 'w').close()\n")
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    stages = plugins.modules_of([("sources", "pyav"), ("analyzers", "rms-streaming")])
    assert {name: about["module"] for name, about in stages.items()} == {
        "pyav-source": "m0_plugins.pyav_source", "rms": "m0_plugins.rms"}
    job = SegmentJob(str(vod), "pyav", {}, "rms-streaming", {}, 2.0, 10.0, 6.0, stages)
    scores = np.concatenate([piece.scores for piece in scores_from_worker(job)])
    assert len(scores) == 60  # 6 s of 0.1 s windows
    assert not mark.exists()


def test_a_run_on_workers_plans_without_a_decoder_and_takes_the_first_workers_probe(
        make_media, tmp_path):
    """With worker processes decoding (a short file is one worker), this process plans the
    run on the source's outline of an MP4 (its boxes; no FFmpeg library is loaded here), and
    the file's description is the first worker's probe: this file declares one channel where
    its decoder gives two, and the run says two, as the probe does."""
    import json
    import subprocess
    import sys

    from m0_plugins.pyav_source.source import PyAVSource

    made = make_media("declared-mono.m4a", "-f", "lavfi", "-i", "sine=f=440:d=8", "-ac", "2",
                      "-c:a", "aac")
    data = bytearray(made.read_bytes())
    at = data.index(b"mp4a") + 4 + 16  # the sample entry's channel count
    assert data[at:at + 2] == b"\0\2"
    data[at:at + 2] = b"\0\1"
    path = tmp_path / "declared-mono.m4a"
    path.write_bytes(bytes(data))
    source = PyAVSource()
    assert (source.outline(str(path)).channels, source.probe(str(path)).channels) == (1, 2)
    code = ("import json, sys, m0core\n"
            f"r = m0core.analyze({str(path)!r}, None, clips=False, jobs=2, cache=False)\n"
            "print(json.dumps([r.media.channels, 'av' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == [2, False]
    assert m0core.analyze(path, None, clips=False, jobs=2, cache=False).media == \
        source.probe(str(path))


def test_a_prestarted_worker_decodes_the_first_segment_or_is_stopped(vod, monkeypatch):
    """A worker started before the run is planned (``m0 analyze`` does it first thing, so its
    start-up overlaps with the command's own) decodes the run's first segment; one the run
    does not take (``jobs=0`` decodes in this process) is stopped when the run ends. None is
    started for a run that decodes in this process or whose file has a curve in the cache."""
    import signal

    import psutil

    from m0core import pipeline, workers

    taken = []
    start = workers.start

    def recorded(*args, **kwargs):
        taken.append(start(*args, **kwargs))
        return taken[-1]

    monkeypatch.setattr(workers, "start", recorded)
    pipeline.prestart(vod, cache=False)
    (spare,) = workers._spares[workers.SEGMENTS]
    on_workers = m0core.analyze(vod, None, clips=False, cache=False, jobs=2)
    assert taken == [spare] and not workers._spares.get(workers.SEGMENTS)
    pipeline.prestart(vod, cache=False)
    (unused,) = workers._spares[workers.SEGMENTS]
    here = m0core.analyze(vod, None, clips=False, cache=False, jobs=0)
    assert unused.proc.returncode == -signal.SIGKILL and len(taken) == 1
    assert psutil.Process().children(recursive=True) == []
    np.testing.assert_array_equal(on_workers.scores, here.scores)
    pipeline.prestart(vod, jobs=0)  # decoding in this process: nothing to start
    assert not workers._spares.get(workers.SEGMENTS)
    pipeline.prestart(vod)  # the cache holds no curve of it yet
    (spare,) = workers._spares.pop(workers.SEGMENTS)
    spare.stop()
    m0core.analyze(vod, None, clips=False)
    pipeline.prestart(vod)  # now it does: nothing will be decoded
    assert not workers._spares.get(workers.SEGMENTS)


def test_m0_analyze_prestarts_its_worker_before_it_imports_numpy(vod, tmp_path):
    """``m0 analyze`` starts its decoding worker before numpy and the rest of a run load, so
    the worker's own start-up overlaps with them. Checking the recording's path loaded numpy
    first (about 60 ms of an hour's 2 s analysis; the run checks the path again anyway)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "import m0core.pipeline as pipeline\n"
            "def prestart(*args, **kwargs):\n"
            "    print('numpy' in sys.modules)\n"
            "    raise SystemExit(0)\n"
            "pipeline.prestart = prestart\n"
            "from m0core.cli.main import main\n"
            "main(sys.argv[1:])\n")
    done = subprocess.run([sys.executable, "-c", code, "analyze", str(vod), str(tmp_path / "out"),
                           "--no-clips", "-q"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_an_outline_of_another_duration_still_decodes_on_the_probes_segments(
        long_vod, fake_dist, tmp_path):
    """A source's outline whose duration is not the probe's (here 40 s too long, so it splits
    the file elsewhere) does not decide the segments: the run decodes on those of the first
    worker's probe, as a run planned on the probe does."""
    import json
    import subprocess
    import sys

    path, _ = long_vod
    starts = tmp_path / "starts"
    env = fake_dist("m0-skewed", (
        "from dataclasses import replace\n"
        "from m0core import hookimpl\n"
        "from m0_plugins.pyav_source.source import PyAVSource\n\n"
        "class Skewed(PyAVSource):\n"
        "    def outline(self, path):\n"
        "        media = super().outline(path)\n"
        "        return replace(media, duration=media.duration + 40)\n\n"
        "    def chunks(self, path, **kw):\n"
        f"        with open({str(starts)!r}, 'a') as f:\n"
        "            f.write(f\"{kw['start']}\\n\")\n"
        "        return super().chunks(path, **kw)\n\n"
        "@hookimpl\n"
        "def m0_register_sources(register):\n"
        "    register('skewed', Skewed)\n"))
    code = ("import json, sys, m0core\n"
            "r = m0core.analyze(sys.argv[1], None, clips=False, jobs=2, cache=False, "
            "source='skewed')\n"
            "print(json.dumps([r.media.duration, r.hop]))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True, env=env)
    duration, hop = json.loads(out.stdout)
    assert duration == PyAVSource().probe(str(path)).duration
    probed = [start for start, _ in plan_segments(duration, 2, hop)]
    assert [start for start, _ in plan_segments(duration + 40, 2, hop)] != probed
    assert set(probed) <= {float(line) for line in starts.read_text().split()}


SHORT_FIRST = '''
import numpy as np
from m0core import AudioChunk, MediaInfo, hookimpl

class ShortFirst:
    """700 s declared; the segment from 0 stops at 100 s without an error, the others whole."""
    exact_seek = True

    def probe(self, path):
        return MediaInfo(path=path, duration=700.0, sample_rate=8000, channels=1)

    def chunks(self, path, *, chunk_seconds=10.0, start=0.0, duration=None):
        end = 100.0 if start == 0 else 700.0 if duration is None else start + duration
        t = start
        while t < end:
            n = int(round(min(chunk_seconds, end - t) * 8000))
            yield AudioChunk(np.full(n, 0.01, np.float32), 8000, t)
            t += n / 8000

@hookimpl
def m0_register_sources(register):
    register("short-first", ShortFirst)
'''


def test_a_segment_that_stops_short_before_one_that_goes_on_fails_cleanly(
        wav, tmp_path, fake_dist):
    """A file without video is as long as its audio: a decode that stops short is no error,
    the run measures it. But a segment that stops short with a later segment's audio going on
    (the decoder gave up at a damaged stretch the next segment seeks past) would put every
    later moment that much early: that is 'truncated or damaged', as it was, not a curve with
    a hole closed up."""
    from conftest import run_m0

    env = fake_dist("m0-short-first", SHORT_FIRST)
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--source", "short-first",
                 "--jobs", "2", "--no-clips", "--no-cache", "-q", env=env)
    assert run.returncode == 1 and run.stderr == (
        f"Error: {wav}: file is truncated or damaged: audio stops at 100.0 s and goes on at "
        "350.0 s\n"), run.stderr
    assert not (tmp_path / "out").exists()
