"""The seed document's Python snippets, verbatim, run as a user would run them: a top-level
script (no main guard), piped into ``python -``, typed into an interactive interpreter and run
in a Jupyter kernel. Batch jobs and segment workers are m0's own ``python -m`` processes, so
none of these ways imports (and re-runs) the caller's code in a worker."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# -- the snippets, as the seed document (performance improvements, v0.3.0) shows them ---------

SEED_STREAMING = '''\
for chunk, offset in processor.stream_chunks():
    # Process 30-second chunk (~50MB memory)
    process_chunk(chunk, offset)
'''

SEED_MEMORY = '''\
processor = StreamingAudioProcessor(audio_path)
memory_mb = processor.get_memory_usage()  # Current memory in MB
'''

SEED_BATCH = '''\
# Create batch jobs
jobs = [
    BatchJob(video_path="video1.mp4", output_path="output1/"),
    BatchJob(video_path="video2.mp4", output_path="output2/"),
]

# Process in parallel
processor = BatchProcessor(max_workers=3)
results = processor.process_batch(jobs)
'''

SEED_ANALYSIS = '''\
# Old approach (still works)
processor = AudioProcessor(audio_path)
analyzer = AudioAnalysis(video_path, audio_path, output_path)

# New approach (recommended)
processor = StreamingAudioProcessor(audio_path)
analyzer = StreamingAudioAnalysis(video_path, processor, output_path)

# Batch processing
batch = BatchProcessor(max_workers=3)
jobs = [BatchJob(video_path, output_path) for video_path in videos]
results = batch.process_batch(jobs)
'''

SEED_CLIPS = '''\
# New approach (parallel)
with ThreadPoolExecutor(max_workers=4) as executor:
    futures = [executor.submit(generate_clip, h) for h in highlights]
    for future in as_completed(futures):
        handle_result(future.result())
'''

SEED_PROGRESS = '''\
def progress_callback(completed, total, job_id, result):
    print(f"Progress: {completed}/{total} - {result['status']}")

batch_processor.process_batch(jobs, progress_callback)
'''

# -- what a user's script has around them: imports, names the snippets use, checks ------------
# An interactive interpreter needs a blank line after a compound statement: pieces are joined
# by blank lines, and a blank line follows each ``def`` inside them.

PIECES = [
    ("streaming", '''\
from m0core import StreamingAudioProcessor
processor = StreamingAudioProcessor("video1.mp4")
offsets = []
def process_chunk(chunk, offset):
    offsets.append(offset)
''', SEED_STREAMING, '''\
assert offsets == [0.0] and processor.duration > 9, offsets
print("CHECK streaming")
'''),
    ("memory", 'audio_path = "audio.wav"\n', SEED_MEMORY, '''\
assert 10 < memory_mb < 4000, memory_mb
print("CHECK memory")
'''),
    ("batch", "from m0core import BatchJob, BatchProcessor\n", SEED_BATCH, '''\
assert [r["status"] for r in results.values()] == ["completed"] * 2, results
assert all(Path(p).is_file() for r in results.values() for p in r["outputs"])
assert all(r["clips"] == 1 for r in results.values()), results
print("CHECK batch")
'''),
    ("analysis", '''\
from m0core import AudioAnalysis, AudioProcessor, StreamingAudioAnalysis
video_path, output_path = "video1.mp4", "analysis/"
videos = ["video1.mp4", "video2.mp4"]
''', SEED_ANALYSIS, '''\
assert len(analyzer.highlights) == 1, analyzer.highlights
assert [r["status"] for r in results.values()] == ["completed"] * 2, results
print("CHECK analysis")
'''),
    ("clips", '''\
from concurrent.futures import ThreadPoolExecutor, as_completed
from m0core import OptimizedClipGenerator
generator = OptimizedClipGenerator(max_workers=2)
highlights = analyzer.highlights
made = []
def generate_clip(h):
    return generator.generate_clip(video_path, h.start, h.end, "clips/")

def handle_result(result):
    made.append(result)
''', SEED_CLIPS, '''\
assert len(made) == 1 and made[0].ok and Path(made[0].path).stat().st_size > 0, made
print("CHECK clips")
'''),
    ("progress", '''\
batch_processor = BatchProcessor(max_workers=2)
jobs = [BatchJob("video1.mp4", "progress1/"), BatchJob("video2.mp4", "progress2/")]
''', SEED_PROGRESS, 'print("CHECK progress")\n'),
]
NAMES = [name for name, *_ in PIECES]


def cells() -> list[str]:
    """The program as cells: ``from pathlib import Path``, then each piece's set-up, the seed's
    snippet verbatim and its check."""
    return ["from pathlib import Path\n"] + [code for _, *parts in PIECES for code in parts]


def program() -> str:
    return "\n".join(cells())


def assert_every_snippet_ran(stdout: str, stderr: str) -> None:
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    for name in NAMES:
        assert f"CHECK {name}" in stdout, (stdout, stderr)
    assert "Progress: 1/2 - completed" in stdout and "Progress: 2/2 - completed" in stdout


@pytest.fixture
def folder(tmp_path: Path, make_media) -> Path:
    """A user's folder: ``video1.mp4`` and ``video2.mp4`` (10 s, a tone at 3–7 s loud enough
    for the seed's -5 dBFS threshold) and ``audio.wav``, their audio."""
    audio = ("anoisesrc=color=pink:amplitude=0.01:duration=10:sample_rate=16000[bed];"
             "sine=frequency=440:sample_rate=16000:duration=10,volume=7.9,"
             "volume='between(t,3,7)':eval=frame[burst];[bed][burst]amix=inputs=2:normalize=0")
    video = make_media("seed-10s.mp4", "-f", "lavfi", "-i",
                       "testsrc2=size=160x120:rate=10:duration=10", "-filter_complex", audio,
                       "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest")
    wav = make_media("seed-10s.wav", "-filter_complex", audio)
    for name in ("video1.mp4", "video2.mp4"):
        (tmp_path / name).write_bytes(video.read_bytes())
    (tmp_path / "audio.wav").write_bytes(wav.read_bytes())
    return tmp_path


def _python(args: list[str], folder: Path, stdin: str | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True,
                          cwd=folder, timeout=300)


def test_top_level_script_without_main_guard(folder):
    (folder / "batch_demo.py").write_text(program())
    run = _python(["batch_demo.py"], folder)
    assert run.returncode == 0, run.stderr
    assert_every_snippet_ran(run.stdout, run.stderr)


def test_piped_into_python_stdin(folder):
    run = _python(["-"], folder, stdin=program())
    assert run.returncode == 0, run.stderr
    assert_every_snippet_ran(run.stdout, run.stderr)


def test_typed_into_an_interactive_interpreter(folder):
    """``python -i`` reading stdin: the REPL compiles one statement at a time, as typed."""
    run = _python(["-i", "-q"], folder, stdin=program() + "\n")
    assert run.returncode == 0, run.stderr
    assert_every_snippet_ran(run.stdout, run.stderr.replace(">>> ", "").replace("... ", ""))


def test_in_a_jupyter_kernel(folder):
    """A real IPython kernel (ipykernel), driven over its ZeroMQ channels by jupyter_client:
    every piece is a cell."""
    manager_module = pytest.importorskip("jupyter_client.manager")
    pytest.importorskip("ipykernel")
    km, kc = manager_module.start_new_kernel(kernel_name="python3", cwd=str(folder))
    out: list[str] = []
    errors: list[str] = []

    def collect(msg: dict) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            (out if content["name"] == "stdout" else errors).append(content["text"])
        elif kind == "error":
            errors.append("\n".join(content["traceback"]))

    try:
        kc.execute_interactive(f"import os; os.chdir({str(folder)!r})", timeout=60)
        for cell in cells():
            reply = kc.execute_interactive(textwrap.dedent(cell), timeout=240,
                                           output_hook=collect)
            assert reply["content"]["status"] == "ok", (cell, errors)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert_every_snippet_ran("".join(out), "".join(errors))
