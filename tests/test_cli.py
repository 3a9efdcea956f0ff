"""The real CLI in a subprocess: the main job and help. Bad input, odd files and names, bad
options and output folders: tests/reliability/test_bad_inputs.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from operator import itemgetter

import pytest
from conftest import _AUDIO_EXPR, LOUD_AT, run_m0, sweep

from m0core.cli import demo
from m0core.dev import synth
from m0core.media.ffmpeg import probe


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_analyze_end_to_end(vod, tmp_path):
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), "-v", "--workers", "2")
    assert run.returncode == 0, run.stderr
    assert "2 highlights" in run.stdout
    clips = sorted(out.glob("*.mp4"))
    assert len(clips) == len(LOUD_AT)
    assert clips[0].name.startswith("01_0h00m1") and clips[0].name.endswith("dB.mp4")
    assert {"highlights.json", "index.json"} <= set(_files(out))


def test_verbose_timings_are_seconds_and_say_a_cached_analysis_in_words(vod, tmp_path):
    """-v's timings line gave the cache flag as a time ('cached 1.00 s'): every number there is
    now seconds, and a run from the cached analysis says so in words."""
    lines = []
    for _ in range(2):  # the second run reads the first's analysis from the cache
        run = run_m0("analyze", str(vod), str(tmp_path / "out"), "-v", "--no-clips")
        assert run.returncode == 0, run.stderr
        (line,) = [x for x in run.stdout.splitlines() if x.startswith("  timings: ")]
        lines.append(line)
    for line in lines:
        assert "cached" not in line.split(";")[0], line
        assert re.fullmatch(r"  timings: (\w+ \d+\.\d\d s)(, \w+ \d+\.\d\d s)*"
                            r"(; analysis from the cache)?", line), line
    assert lines[1].endswith("; analysis from the cache")

def test_verbose_rows_name_the_score_and_say_why(vod, tmp_path):
    """-v's row of a highlight gave its score as '+ 1.4' beside its level in dB, read as 1.4
    dB more (standout's score is dB·s): the score is named, and the row ends with the
    highlight's reason, in its units, as the report's 'why' column."""
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), "-v", "--no-clips")
    assert run.returncode == 0, run.stderr
    rows = [x for x in run.stdout.splitlines() if re.match(r"\s+\d+\s+\d+:\d\d\s", x)]
    highlights = json.loads((out / "highlights.json").read_text())["highlights"]
    assert len(rows) == len(highlights) == len(LOUD_AT)
    for row, h in zip(rows, highlights, strict=True):
        score = re.search(r"score (-?\d+\.\d)", row)  # 0.1 here, 0.01 in the file
        assert score and abs(float(score.group(1)) - h["score"]) <= 0.05 + 1e-9, row
        assert "+ " not in row, row
        assert h["reason"] and row.endswith(h["reason"]), row

@pytest.mark.parametrize("analyzer, unit", [("rms-streaming", "dBFS"), ("loudness", "LUFS")])
def test_verbose_rows_give_the_level_in_the_analyzers_unit(vod, tmp_path, analyzer, unit):
    """-v's rows gave every peak level in 'dB' (m0 demo's and m0 reference's say dBFS, and
    the loudness analyzer's levels are LUFS): a row gives its level in the unit of the
    analyzer that measured it, as highlights.json holds it."""
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), "-v", "--no-clips", "--analyzer", analyzer)
    assert run.returncode == 0, run.stderr
    rows = [x for x in run.stdout.splitlines() if re.match(r"\s+\d+\s+\d+:\d\d\s", x)]
    highlights = json.loads((out / "highlights.json").read_text())["highlights"]
    assert rows and len(rows) == len(highlights)
    for row, h in zip(rows, highlights, strict=True):
        # the row rounds the level to 0.1, highlights.json to 0.01: -13.549 is -13.5 in the
        # row and -13.55 in the file, whose own rounding to 0.1 is -13.6 (CI met it)
        shown = re.search(rf"  (-?\d+\.\d) {unit}  ", row)
        assert shown and abs(float(shown.group(1)) - h["peak_db"]) <= 0.05 + 1e-9, row


def test_the_summary_of_a_no_clips_run_says_where_its_results_are_not_0_clips(vod, tmp_path):
    """m0 analyze --no-clips ended '2 highlights in 1:00 of audio (…); 0 clips in OUT', as if
    every clip had failed: it says the results are in OUT, without clips."""
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), "--no-clips")
    assert run.returncode == 0, run.stderr
    (last,) = [x for x in run.stdout.splitlines() if x.startswith("2 highlights in ")]
    assert "0 clips" not in last and last.startswith("2 highlights in 1:00 of audio (")
    assert last.endswith(f"); results in {out} (--no-clips: no clips)")


@pytest.mark.parametrize("args", [[], ["--no-report"]])
def test_the_summary_says_where_the_report_is(vod, tmp_path, args):
    """m0 analyze's summary never mentioned report.html (m0 demo's does): after the summary
    line, 'Review them in a browser: OUT/report.html' when the run wrote one."""
    out = tmp_path / "out"
    run = run_m0("analyze", str(vod), str(out), "--no-clips", *args)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    if args:
        assert not (out / "report.html").exists() and "report.html" not in run.stdout
    else:
        assert (out / "report.html").is_file()
        assert lines[-2].startswith("2 highlights in 1:00 of audio (")
        assert lines[-1] == f"Review them in a browser: {out / 'report.html'}"

def test_the_summary_counts_one_in_the_singular(vod, tmp_path):
    run = run_m0("analyze", str(vod), str(tmp_path / "out"), "--max-clips", "1",
                 "--compilation", "--no-report")
    assert run.returncode == 0, run.stderr
    assert "1 highlight in 1:00 of audio" in run.stdout and "; 1 clip in " in run.stdout
    assert ", 1 chapter)" in run.stdout


@pytest.mark.parametrize("args, advice", [
    ([], "try a higher --sensitivity, e.g. -s 0.8, or --selector top --max-clips 5"),
    (["-s", "0.8"], "try a higher --sensitivity, e.g. -s 1, or --selector top --max-clips 5"),
    (["--selector", "Standout"], "try a higher --sensitivity, e.g. -s 0.8, or --selector top"),
    (["-s", "1"], "try --selector top --max-clips 5)"),
    (["--selector", "crest", "-t", "-1"], "try a lower --threshold or --selector top"),
    # without -t, adaptive's floor (-60 dBFS) is not what held it back: no "lower --threshold"
    (["--selector", "adaptive"], "try --selector top --max-clips 5)"),
    (["-t", "-80"], "try a lower --threshold or a higher --sensitivity, e.g. -s 0.8, or "
                    "--selector top --max-clips 5)"),
])
def test_nothing_found_says_what_to_try_with_the_selector_used(make_media, tmp_path, args,
                                                               advice):
    # a steady tone: nothing stands out of it at any sensitivity (on pink noise, sensitivity
    # 1 counts a bump 3 dB over it as a burst)
    quiet = make_media("steady-tone.wav", "-f", "lavfi", "-i",
                       "sine=frequency=220:sample_rate=48000:duration=20,volume=0.05")
    run = run_m0("analyze", str(quiet), str(tmp_path / "out"), "--no-clips", *args)
    assert run.returncode == 0, run.stderr
    assert f"Note: no highlights found ({advice}" in run.stderr


def test_silent_audio_says_so_and_which_track_to_try(make_media, tmp_path):
    """A recording whose audio track 1 recorded nothing (OBS's track of a muted mix, the sound
    on track 2) found nothing, with advice that could not help ('try a higher --sensitivity');
    m0 reference said the file was silent. Both say the track is, and the one to try; audio
    of one track says it is silent, whatever the selector."""
    path = make_media("silent-first-track.mkv", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono",
                      "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.02:duration=20",
                      "-map", "0:a", "-map", "1:a", "-t", "20", "-c:a", "flac")
    other = "(the file has 2 audio tracks: try --audio-track 2, 'm0 probe' lists them)"
    run = run_m0("analyze", str(path), str(tmp_path / "out"), "--no-clips")
    assert run.returncode == 0, run.stderr
    assert (f"Warning: {path}: audio track 1 is silent throughout {other}\n"
            "Note: no highlights found.\n" in run.stderr)
    run = run_m0("reference", str(path))
    assert run.returncode == 1
    assert run.stderr.endswith(f"\nError: {path}: audio track 1 is silent throughout, there "
                               f"are no levels to measure {other}\n")
    assert run_m0("reference", str(path), "--audio-track", "2").returncode == 0
    silent = make_media("zeros.wav", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "20")
    for selector in ("standout", "top"):
        run = run_m0("analyze", str(silent), str(tmp_path / selector), "--no-clips",
                     "--selector", selector)
        assert (f"Warning: {silent}: the audio is silent throughout\n"
                "Note: no highlights found.\n" in run.stderr)


def test_a_silent_track_is_among_the_warnings_of_every_output(make_media, tmp_path):
    """That the analysed track was silent was said on m0 analyze's stderr only: a batch's job,
    the GUI, highlights.json and report.html said 0 highlights and no more. It is one of
    the run's warnings, which they show."""
    from m0core import BatchJob, BatchProcessor

    path = make_media("silent-first-track.mkv", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono",
                      "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.02:duration=20",
                      "-map", "0:a", "-map", "1:a", "-t", "20", "-c:a", "flac")
    said = (f"{path}: audio track 1 is silent throughout (the file has 2 audio tracks: try "
            "--audio-track 2, 'm0 probe' lists them)")
    jobs = BatchProcessor(max_workers=1).process_batch([BatchJob(path, tmp_path / "b")])
    (job,) = jobs.values()
    assert job["status"] == "completed" and said in job["notes"]
    assert json.loads((tmp_path / "b" / "highlights.json").read_text())["warnings"] == [said]
    assert json.dumps(said, ensure_ascii=False) in (tmp_path / "b" / "report.html").read_text()


def test_quiet_says_nothing_of_a_run_that_found_nothing(make_media, tmp_path):
    """-q in a cron job: a recording with no moment printed 'Note: no highlights found (try
    ...)' on stderr, which cron mails. -q prints errors and warnings alone."""
    steady = make_media("steady-noise-quiet-run.wav", "-f", "lavfi", "-i",
                        "anoisesrc=color=pink:amplitude=0.05:duration=20:seed=3", "-t", "20")
    run = run_m0("analyze", str(steady), str(tmp_path / "out"), "-q")
    assert run.returncode == 0 and (run.stdout, run.stderr) == ("", "")
    assert json.loads((tmp_path / "out" / "highlights.json").read_text())["highlights"] == []


@pytest.mark.parametrize("selector", ["crest", "adaptive", "top"])
def test_sensitivity_with_a_selector_without_one_says_so_in_words(wav, tmp_path, selector):
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "--selector",
                 selector, "-s", "0.8")
    assert run.returncode == 1
    assert run.stderr.strip() == (f'Error: selector "{selector}" has no sensitivity: drop '
                                  "--sensitivity, or choose a selector that has one (standout)")
    assert not (tmp_path / "out").exists()
    tuned = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-clips", "-s", "0.8")
    assert tuned.returncode == 0 and "Error" not in tuned.stderr, tuned.stderr  # standout's


def _on_a_terminal(*args: str, columns: int = 80,
                   env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    """Run ``m0 ARGS`` with stderr on a terminal ``columns`` wide (the bars are drawn), ``env``
    added to the environment: its exit code, stdout and what it drew on the terminal."""
    import fcntl
    import struct
    import termios

    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**{k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")},
           "TERM": "xterm", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "m0core", *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    drawn = b""
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the other end is closed
            break
        if not data:
            break
        drawn += data
    os.close(leader)
    return proc.wait(timeout=60), proc.stdout.read(), drawn


def _frames(drawn: bytes) -> list[str]:
    """Each line a terminal was given (a bar's redraws each one), its escapes left out."""
    text = re.sub(r"\x1b\[[?0-9;]*[a-zA-Z]", "", drawn.decode(errors="replace"))
    return re.split(r"[\r\n]", text)


def test_the_analysis_bar_ends_on_what_was_found_counted_in_the_singular(make_media, tmp_path):
    one = make_media("one-burst.wav", "-filter_complex",
                     _AUDIO_EXPR.format(d=30).replace("+between(t,40,41)", ""), "-ac", "1")
    code, stdout, drawn = _on_a_terminal("analyze", str(one), str(tmp_path / "out"),
                                         "--no-clips", "--no-report", "--no-cache")
    assert code == 0 and b"1 highlight in" in stdout
    frames = [f for f in _frames(drawn) if "Analysing" in f]
    assert frames and frames[-1].rstrip().endswith("100%  1 highlight"), frames[-1]


def test_the_bars_fit_a_narrow_terminal(vod, tmp_path):
    """In a terminal 40 columns wide the bars' lines were 60 to 80 long: each wrapped, and
    each redraw (back to the start of the row it ended on) left a row behind, the terminal
    scrolling a line per step. Each line fits now, its track shortened, its end cut."""
    code, _, drawn = _on_a_terminal("analyze", str(vod), str(tmp_path / "out"), "--no-cache",
                                    "-f", "csv", columns=40)
    assert code == 0
    frames = _frames(drawn)
    assert {"Analysing", "Writing outputs"} <= {f.partition("  ")[0] for f in frames}, frames
    assert max(len(f) for f in frames) < 40, max(frames, key=len)


def test_no_color_leaves_the_lines_uncoloured(tmp_path):
    """NO_COLOR set (no-color.org) was not heeded: the error line was red on a terminal."""
    missing = str(tmp_path / "missing.mp4")
    _, _, red = _on_a_terminal("analyze", missing)
    _, _, plain = _on_a_terminal("analyze", missing, env={"NO_COLOR": "1"})
    assert b"\x1b[31mError: " in red
    assert plain.strip() == f"Error: {missing}: no such file".encode()


def test_a_dumb_terminal_gets_the_lines_a_log_gets(vod, tmp_path):
    """TERM=dumb (Emacs's shell and compilation buffers) was drawn to as any terminal: the
    bars' carriage returns and cursor escapes, a red error, all shown there as they are. It
    gets the lines a log gets: each bar's label, the error uncoloured."""
    _, _, drawn = _on_a_terminal("analyze", str(vod), str(tmp_path / "out"), "--no-cache",
                                 env={"TERM": "dumb"})
    _, _, error = _on_a_terminal("analyze", str(tmp_path / "missing.mp4"), env={"TERM": "dumb"})
    lines = drawn.replace(b"\r\n", b"\n") + error.replace(b"\r\n", b"\n")
    assert b"\r" not in lines and b"\x1b" not in lines, lines
    assert lines.decode().splitlines() == ["Analysing", "Cutting clips", "Writing outputs",
                                           f"Error: {tmp_path / 'missing.mp4'}: no such file"]


@pytest.mark.parametrize("command, stream", [("analyze", 1), ("batch", 1), ("batch", 2)])
def test_a_closed_standard_stream_is_no_failure(vod, tmp_path, command, stream):
    """``m0 analyze vod.mp4 out/ >&-`` (a daemon's, a script's way of dropping output): Python
    gives a closed stream as None, and m0 failed before any work with 'unexpected
    AttributeError'; a closed stderr left a batch's jobs without one, each failing at once.
    What m0 prints there is dropped now; the work is done."""
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "m0core", command, str(vod), str(out),
                          "--no-report"], capture_output=True, text=True, timeout=120,
                         preexec_fn=lambda: os.close(stream))
    assert run.returncode == 0, run.stderr
    assert list(out.rglob("highlights.json")) and len(list(out.rglob("*.mp4"))) == len(LOUD_AT)


def test_a_report_asked_for_and_left_out_is_refused(vod, tmp_path):
    run = run_m0("analyze", str(vod), str(tmp_path / "out"), "--no-clips", "-f", "report",
                 "--no-report")
    assert run.returncode == 1 and run.stderr.strip() == (
        "Error: -f report asks for the report --no-report leaves out: drop one")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, error", [
    (["--no-clips", "--cut", "smart"],
     "--cut does nothing with --no-clips (no clip is cut): drop it or --no-clips"),
    (["--no-clips", "--workers", "2", "--aspect", "9:16", "--fade", "1", "-P",
      "encoder.timeout=60"],
     "--workers, --aspect, --fade and -P encoder.timeout=60 do nothing with --no-clips (no "
     "clip is cut): drop them or --no-clips"),
    (["--height", "480", "--fit", "crop"],
     "--fit does nothing without --aspect (the clips keep the source's shape): drop it or "
     "give --aspect"),
    (["--cut", "smart", "--loudness", "-14"],
     "--cut smart does nothing with --loudness (short-form clips are re-encoded whole, "
     "frame-exact): drop --cut"),
    (["-q", "-v"], "-v does nothing with -q (no summary is printed): drop one"),
    (["--json", "-v"], "-v does nothing with --json (no summary is printed): drop one"),
    (["-P", "selector.margin_db=8", "-P", "selector.margin_db=12"],
     "-P selector.margin_db is given twice (8, then 12): give it once"),
], ids=["cut-no-clips", "several-no-clips", "fit-no-aspect", "cut-short-form", "quiet-verbose",
        "json-verbose", "param-twice"])
def test_an_option_that_does_nothing_with_the_others_is_refused(wav, tmp_path, args, error):
    """They were accepted and ignored: --cut smart --no-clips made no clip, --fit without
    --aspect kept the source's frame, --cut smart --loudness cut every clip the accurate way,
    -v with -q or --json listed nothing, the first of two -P selector.margin_db was dropped
    for the second."""
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--no-report", *args)
    assert run.returncode == 1 and run.stderr.strip() == f"Error: {error}", run.stderr
    assert not (tmp_path / "out").exists()


def test_batch_refuses_its_clip_options_with_no_clips_but_not_its_job_count(wav, tmp_path):
    run = run_m0("batch", str(wav), str(tmp_path / "out"), "--no-clips", "--clip-workers",
                 "2", "--workers", "1")
    assert run.returncode == 1 and run.stderr.strip() == (
        "Error: --clip-workers does nothing with --no-clips (no clip is cut): drop it or "
        "--no-clips"), run.stderr
    assert not (tmp_path / "out").exists()
    # what shapes the highlights' windows still counts without clips
    run = run_m0("batch", str(wav), str(tmp_path / "out"), "--no-clips", "--workers", "1",
                 "-l", "6", "--pre", "2", "--cut", "accurate", "--aspect", "9:16",
                 "--no-report", "-q")
    assert run.returncode == 1 and "--cut and --aspect do nothing" in run.stderr, run.stderr
    run = run_m0("batch", str(wav), str(tmp_path / "out"), "--no-clips", "--workers", "1",
                 "-l", "6", "--pre", "2", "--no-report", "-q")
    assert run.returncode == 0, run.stderr
    windows = [(h["start"], h["end"]) for h in json.loads(
        (tmp_path / "out" / "vod_highlights" / "highlights.json").read_text())["highlights"]]
    assert windows and all(round(end - start, 3) == 6 for start, end in windows), windows


def test_json_on_stdout_lists_the_outputs_highlights_json_lists(vod, tmp_path):
    run = run_m0("analyze", str(vod), str(tmp_path / "out"), "-f", "csv", "--json")
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)["outputs"]
    assert printed == json.loads((tmp_path / "out" / "highlights.json").read_text())["outputs"]
    assert {"index.json", "report.html", "highlights.csv"} <= set(printed)


def test_json_output_and_no_clips(vod, tmp_path):
    run = run_m0("analyze", str(vod), str(tmp_path), "--no-clips", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["schema"] == "m0.highlights/1" and len(doc["highlights"]) == len(LOUD_AT)
    assert all(h["clip"] is None for h in doc["highlights"])


def test_crest_with_threshold_like_the_seed(vod, tmp_path):
    run = run_m0("analyze", str(vod), str(tmp_path), "-t", "-25", "--no-clips", "--json",
                 "--selector", "crest")
    doc = json.loads(run.stdout)
    assert doc["selector"]["name"] == "crest" and doc["selector"]["threshold"] == -25
    assert doc["highlights"]


@pytest.mark.slow
def test_no_streaming_selects_legacy(vod, tmp_path):
    run = run_m0("analyze", str(vod), str(tmp_path), "--no-streaming", "--no-clips", "--json")
    assert json.loads(run.stdout)["analyzer"]["name"] == "rms-legacy"


def test_help_version_and_alias():
    for command in ([], ["analyze"], ["plugins"], ["demo"]):
        run = run_m0(*command, "--help")
        assert run.returncode == 0 and "Usage:" in run.stdout
    assert "Example: m0 analyze" in run_m0("analyze", "--help").stdout
    from m0core import __version__

    assert __version__ in run_m0("--version").stdout
    highlighter = shutil.which("highlighter")
    assert highlighter, "the highlighter console script is installed"
    alias = subprocess.run([highlighter, "--help"], capture_output=True, text=True)
    assert alias.returncode == 0 and "analyze" in alias.stdout


@pytest.mark.parametrize("command, last", [
    ([], "reference  Measure VIDEO's levels"), (["cache"], "Example: m0 cache info"),
])
def test_a_group_without_a_command_shows_its_help_not_an_error(command, last):
    run = run_m0(*command)
    assert run.returncode in (0, 2)  # click 8.1 exits 0, 8.2 and later 2
    shown = (run.stdout + run.stderr).strip()
    first, end = shown.splitlines()[0], shown.splitlines()[-1].strip()
    assert first.startswith("Usage: ") and first.endswith(" [OPTIONS] COMMAND [ARGS]...")
    assert "Error" not in shown and end.startswith(last) and "--help" not in end


def test_every_command_s_help_ends_with_an_example():
    from m0core.cli.group import cli

    def commands(group, path):
        for name, command in group.commands.items():
            yield [*path, name]
            if hasattr(command, "commands"):
                yield from commands(command, [*path, name])

    for path in commands(cli, []):
        run = run_m0(*path, "--help")
        assert run.returncode == 0 and "\n  Example: m0 " in run.stdout, path


def test_every_option_s_help_says_its_default():
    """--max-clips ('Keep only the N best highlights.') and --threshold did not say what
    they are when not given (all; none, crest's -5 dBFS): every option taking a value says
    its default in --help, but those that add something (-P, a file to read)."""
    from m0core.cli.group import cli

    adding = {"params", "from_file", "highlights_json"}

    def commands(group, path):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, [*path, name])
            else:
                yield [*path, name]

    for path in commands(cli, []):
        shown = " ".join(run_m0(*path, "--help").stdout.split())
        command = cli
        for name in path:
            command = command.commands[name]
        for option in command.params:
            if option.param_type_name != "option" or option.is_flag or option.name in adding \
                    or option.hidden:  # not in --help
                continue
            help_ = " ".join(option.help.split()).split(" [default:")[0]
            assert help_ in shown, (path, option.name)
            rest = shown.split(help_, 1)[1]
            assert rest.lstrip().startswith("[default:"), (path, option.opts, rest[:40])

@pytest.mark.parametrize("command", ["analyze", "batch", "chapters"])
def test_quiet_s_help_says_the_errors_and_warnings_are_still_said(command):
    """m0 batch --help said -q is 'No progress or summary.' and m0 chapters 'No progress bar
    or summary.', where m0 analyze's says 'Errors and warnings only: …': each still says a
    recording that looks cut short, and batch its last line ('Error: 1 of 3 jobs failed …').
    Each command whose -q keeps them says so alike."""
    shown = " ".join(run_m0(command, "--help").stdout.split())
    assert "-q, --quiet Errors and warnings only: no progress" in shown, shown


@pytest.mark.slow
def test_threshold_s_help_says_it_is_a_floor_for_every_selector_but_crest(wav, tmp_path):
    """m0 analyze --help said -t is 'a floor for standout', though adaptive and top keep no
    moment under it either: its help names them all."""
    shown = " ".join(run_m0("analyze", "--help").stdout.split())
    assert "Minimum level in dBFS (crest's threshold; a floor for the other selectors)" in shown
    for selector in ("standout", "adaptive", "top"):
        found = [json.loads(run_m0("analyze", str(wav), str(tmp_path / f"{selector}{len(t)}"),
                                   "--no-clips", "--no-report", "--json", "--selector",
                                   selector, *t).stdout)["highlights"] for t in ([], ["-t", "0"])]
        assert found[0] and not found[1], (selector, found)


def test_m0_chapters_says_it_found_no_highlights_before_its_copy(make_media, tmp_path):
    """m0 chapters talk.wav talk.m4a of a recording where nothing stands out copied it whole
    (minutes for hours) and said '0 chapters in talk.m4a', where m0 analyze notes that it
    found none and what to try. It notes the same, before the copy, naming its own
    --max-chapters; -q says nothing of it, as analyze's."""
    path = make_media("sine-3s-units.wav", "-f", "lavfi", "-i", "sine=duration=3")
    out = tmp_path / "talk.m4a"
    run = run_m0("chapters", str(path), str(out))
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        "Analysing", "Note: no highlights found (try a higher --sensitivity, e.g. -s 0.8, or "
        "--selector top --max-chapters 5).", "Writing chapters"], run.stderr
    assert run.stdout == f"0 chapters in {out}\n" and out.is_file()
    quiet = run_m0("chapters", str(path), str(tmp_path / "quiet.m4a"), "-q")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == "", quiet


def test_m0_chapters_help_speaks_of_chapters_not_clips(vod, tmp_path):
    """m0 chapters --help called -l 'Length of each clip' and offered --max-clips, though it
    cuts no clip: -l is each highlight's window, its chapter, and --max-chapters keeps the
    best (--max-clips, as analyze spells it, is still taken)."""
    shown = " ".join(run_m0("chapters", "--help").stdout.split())
    assert "clip" not in shown.replace("--clip-length", ""), shown
    assert "Length of each highlight's window, which its chapter spans." in shown
    assert "--max-chapters N Keep only the N best highlights" in shown
    assert "Length of each clip." in " ".join(run_m0("analyze", "--help").stdout.split())
    for spelt in ("--max-chapters", "--max-clips"):
        run = run_m0("chapters", str(vod), str(tmp_path / f"{spelt}.mp4"), spelt, "1")
        assert run.returncode == 0, run.stderr
        # one highlight kept (2 without it): its chapter, and one before it where it is the
        # later of the two
        assert re.match(r"1 chapter in |2 chapters in .*: 1 highlight, 1 ", run.stdout), \
            run.stdout


def test_demo_makes_a_sample_and_finds_its_moments(tmp_path):
    run = run_m0("demo", str(tmp_path / "demo"), "--duration", "60", "-q")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "demo" / "sample_vod.mp4").is_file()
    doc = json.loads((tmp_path / "demo" / "highlights" / "highlights.json").read_text())
    assert doc["highlights"] and all(h["clip"] for h in doc["highlights"])
    planted = int(run.stdout.split("Planted ")[1].split()[0])
    assert f"({planted} of the moments, 0 false alarms)" in run.stdout
    # -q's output began with an empty line, there to set the summary apart from the bars
    assert run.stdout.startswith("Planted "), run.stdout


def test_the_demo_s_next_command_can_be_typed_as_it_is(tmp_path):
    """m0 demo "my demo" ended 'Next: … (or try: m0 analyze my demo/sample_vod.mp4 out/ -v)',
    which, pasted, analyses a file named 'my'. The sample's path is quoted for a shell, as
    m0 batch quotes the --status command it gives."""
    import shlex

    folder = tmp_path / "my demo"
    run = run_m0("demo", str(folder), "--duration", "20", "-q")
    assert run.returncode == 0, run.stderr
    last = run.stdout.splitlines()[-1]
    command = last.split("(or try: ", 1)[1].removesuffix(")")
    assert shlex.split(command) == ["m0", "analyze", str(folder / "sample_vod.mp4"), "out/",
                                    "-v"], last


def test_the_demo_replaces_its_own_sample_and_no_other_file(tmp_path):
    """m0 demo DIR replaced a DIR/sample_vod.mp4 it had not made (a user's own file of that
    name). It is left alone: one line saying so and how to go on, exit 1, nothing made; the
    sample a demo made (its tag) is replaced by the next."""
    theirs = tmp_path / "theirs" / "sample_vod.mp4"
    theirs.parent.mkdir()
    theirs.write_bytes(b"my own recording")
    run = run_m0("demo", str(theirs.parent), "--duration", "20", "-q")
    assert run.returncode == 1 and run.stdout == "", run.stdout
    assert run.stderr == (f"Error: {theirs}: is there and not a sample m0 demo made, so it is "
                          "left alone: give m0 demo another folder (m0 demo OTHER_DIR) or move "
                          "it away\n")
    assert theirs.read_bytes() == b"my own recording"
    assert [p.name for p in theirs.parent.iterdir()] == ["sample_vod.mp4"]
    mine = tmp_path / "mine" / "sample_vod.mp4"
    mine.parent.mkdir()
    synth.write_vod(mine, 2, events=[], comment=demo.SAMPLE_TAG)
    run = run_m0("demo", str(mine.parent), "--duration", "20", "-q")
    assert run.returncode == 0, run.stderr
    assert probe(mine).duration == pytest.approx(20, abs=0.1)


def test_the_demo_s_sample_has_a_bar_while_it_is_made(tmp_path):
    """m0 demo made its sample VOD with nothing on the terminal past one line: 3.5 s for the
    default 3 minutes, 35 s for --duration 1800, a minute for an hour's. A bar counts the
    seconds made, to 100 %."""
    code, _, drawn = _on_a_terminal("demo", str(tmp_path / "demo"), "--duration", "20")
    assert code == 0
    making = [f for f in _frames(drawn) if f.startswith("Making it")]
    assert making and "100%" in making[-1], _frames(drawn)


def test_m0_chapters_has_a_bar_while_it_copies_the_recording(vod, tmp_path):
    """m0 chapters copied the recording with nothing on the terminal (a minute or more for a
    6-hour VOD; with --highlights, nothing at all till the end). A bar counts the seconds of
    the copy ffmpeg has written, to 100 %."""
    code, stdout, drawn = _on_a_terminal("chapters", str(vod), str(tmp_path / "ch.mp4"))
    assert code == 0 and b"chapters in" in stdout
    writing = [f for f in _frames(drawn) if f.startswith("Writing chapters")]
    assert writing and "100%" in writing[-1], _frames(drawn)


def test_a_verbose_row_gives_the_score_highlights_json_gives():
    """A score of 57.5549 was '57.6' in -v's row but 57.55 in highlights.json, which reads 57.5
    at one decimal (CI saw it on another machine's figures): the row rounds what the file holds."""
    from m0core.cli.analyze import highlight_row
    from m0core.model import Highlight

    h = Highlight(start=1.0, end=21.0, peak_time=13.0, peak_db=-13.6, score=57.5549, index=1,
                  reason="+38 dB")
    assert h.to_dict()["score"] == 57.55
    assert "score 57.5 " in highlight_row(h, None)
    assert "score – " in highlight_row(Highlight(1.0, 2.0, 1.5, -20.0, float("nan"), index=2), None)


@pytest.mark.parametrize("command, more", [
    ("probe", ""), ("reference", ""),
    ("analyze", '; m0 batch "PATTERN" OUT_DIR analyses several'),
])
def test_a_second_video_says_the_command_takes_one(wav, tmp_path, command, more):
    """``m0 probe *.wav`` (an unquoted pattern matching two files) said only 'Got unexpected
    extra argument (b.wav)', with no word that the command takes one file: it says so."""
    extra = ["b.wav", "c.wav"] if command == "analyze" else ["b.wav"]
    run = run_m0(command, str(wav), *extra, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"Error: Got unexpected extra argument ({extra[-1]}): python -m m0core {command} takes "
        f"one VIDEO at a time, and an unquoted pattern (*.wav) gives it every file it matches"
        f"{more} (see 'python -m m0core {command} --help')"]


@pytest.mark.parametrize("args, hint", [
    (("analyze", "", "out"), "'VIDEO'"),
    (("probe", " "), "'VIDEO'"),
    (("reference", ""), "'VIDEO'"),
    (("chapters", "", "out.mp4"), "'VIDEO'"),
    (("chapters", "{wav}", "out.mp4", "--highlights", ""), "'--highlights'"),
    (("batch", "--from-file", "", "out"), "'--from-file'"),
])
def test_an_empty_input_path_says_so(wav, tmp_path, args, hint):
    """``m0 analyze "$VOD" out/`` with VOD unset said 'Error: .: is a directory, not a media
    file' (``Path("")`` is ``.``), naming a folder nobody gave; so did probe, reference,
    chapters (and its --highlights) and batch --from-file ('.: cannot read the list')."""
    run = run_m0(*(a.format(wav=wav) for a in args), cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        f"Error: Invalid value for {hint}: is empty (an unset variable?): give a path (see "
        f"'python -m m0core {args[0]} --help')"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, hint, folder", [
    (("analyze", "{wav}", ""), "'[OUT_DIR]'", True),
    (("batch", "{wav}", ""), "'OUT_DIR'", True),
    (("chapters", "{wav}", ""), "'OUT'", False),
    (("gui", "--out", "", "--no-browser"), "'--out'", True),
    (("demo", ""), "'[OUT_DIR]'", True),
])
def test_an_empty_output_path_is_an_error_not_the_current_folder(wav, tmp_path, args, hint,
                                                                  folder):
    """``m0 analyze vod.mp4 "$OUT"`` with OUT unset wrote its clips, report and cache into the
    current folder (``Path("")`` is ``.``); so did batch, gui --out and demo (its sample VOD
    too). It is one line, exit 2, and nothing is written."""
    run = run_m0(*(a.format(wav=wav) for a in args), cwd=tmp_path)
    assert run.returncode == 2
    said = "is empty (an unset variable?): give a path" + (
        ", '.' for the current folder" if folder else "")
    assert run.stderr.splitlines() == [
        f"Error: Invalid value for {hint}: {said} (see 'python -m m0core {args[0]} --help')"]
    assert list(tmp_path.iterdir()) == []


def test_a_utf8_name_works_where_python_reads_names_as_ascii(vod, tmp_path):
    """With Python's UTF-8 mode and locale coercion off (``PYTHONUTF8=0 LC_ALL=C``),
    ``m0 analyze 'vidéo ライブ.mp4'`` said 'the file's name is not valid UTF-8; rename it' of
    a name whose bytes are UTF-8: Python had read it as ASCII. It is analysed as anywhere else;
    a name that is not UTF-8 is still refused, and from Python the error says how to run it."""
    video = tmp_path / "vidéo ライブ.mp4"
    shutil.copy(vod, video)
    env = {**os.environ, "PYTHONUTF8": "0", "LC_ALL": "C"}
    env.pop("LANG", None)
    run = run_m0("analyze", str(video), str(tmp_path / "out"), "--no-clips", "--json", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["source"]["name"] == "vidéo ライブ.mp4"
    latin = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.mp4")
    shutil.copy(vod, latin)
    bad = run_m0("analyze", latin, str(tmp_path / "bad"), env=env)
    assert bad.returncode == 1 and bad.stderr.strip().endswith(
        "caf\ufffd.mp4: the file's name is not valid UTF-8; rename it"), bad.stderr
    from_python = subprocess.run(
        [sys.executable, "-c", "import sys; from m0core.media.ffmpeg import check_name; "
         "check_name(sys.argv[1])", str(video)], capture_output=True, text=True, env=env)
    assert from_python.stderr.strip().endswith(
        "Python reads file names as ascii here, not UTF-8: run it with PYTHONUTF8=1"), \
        from_python.stderr


def test_a_reader_that_goes_away_ends_m0_quietly(vod, tmp_path):
    """``m0 probe x.mp4 | true`` and ``m0 analyze x.mp4 out --json | head -c 10`` ended with
    exit code 1 and nothing said, an error README says is always said. They end as a Unix tool
    whose reader went away does, code 141 (128 + SIGPIPE), nothing said; analyze's outputs,
    written before its listing, are complete."""
    def closed_reader(*args: str) -> subprocess.CompletedProcess:
        read, write = os.pipe()
        os.close(read)
        try:
            return subprocess.run([sys.executable, "-m", "m0core", *args], stdout=write,
                                  stderr=subprocess.PIPE, text=True, timeout=120)
        finally:
            os.close(write)

    probe = closed_reader("probe", str(vod))
    assert probe.returncode == 141 and probe.stderr == "", probe.stderr
    out = tmp_path / "out"
    run = closed_reader("analyze", str(vod), str(out), "--json", "-q")
    assert run.returncode == 141 and run.stderr == "", run.stderr
    assert len(json.loads((out / "highlights.json").read_text())["highlights"]) == len(LOUD_AT)
    assert len(list(out.glob("*.mp4"))) == len(LOUD_AT)
    assert not [p for p in out.iterdir() if p.name.startswith(".m0-run")]


def test_verbose_rows_line_their_clips_up():
    """-v's rows (m0 demo's next step: m0 analyze m0-demo/sample_vod.mp4 out/ -v) put each
    clip's name one column further where the score had two digits before its point ('score
    8.9  01_…', 'score 10.7  03_…'): the clips and reasons of every row start in one column."""
    from m0core.cli.analyze import highlight_row
    from m0core.model import ClipResult, Highlight

    rows = []
    for index, score in enumerate((8.9, 10.7, 163.1, float("nan")), start=1):
        h = Highlight(start=1.0, end=31.0, peak_time=21.0, peak_db=-12.0, score=score,
                      index=index, reason="held")
        rows.append(highlight_row(h, ClipResult(h, f"out/{index:02d}_clip.mp4", ok=True)))
    assert len({row.index(f"{n:02d}_clip.mp4") for n, row in enumerate(rows, start=1)}) == 1, rows


def test_analyze_of_a_folder_or_a_pattern_says_m0_batch_takes_those(tmp_path):
    """``m0 analyze vods/ out/`` said 'vods: is a directory, not a media file' and ``m0
    analyze "vods/*.mp4" out/`` 'vods/*.mp4: no such file', and no more: the line says that
    m0 batch analyses the recordings in a folder or that a pattern matches, as typed."""
    folder = tmp_path / "my vods"
    folder.mkdir()
    out = tmp_path / "out"
    run = run_m0("analyze", str(folder), str(out))
    assert run.returncode == 1 and not out.exists()
    assert run.stderr.splitlines() == [
        f"Error: {folder}: is a directory, not a media file; m0 batch '{folder}' OUT_DIR "
        "analyses the recordings in it"], run.stderr
    pattern = f"{folder}/*.mp4"
    run = run_m0("analyze", pattern, str(out))
    assert run.returncode == 1 and not out.exists()
    assert run.stderr.splitlines() == [
        f"Error: {pattern}: no such file; m0 batch '{pattern}' OUT_DIR analyses the files it "
        "matches"], run.stderr
    assert "m0 batch" not in run_m0("analyze", str(folder / "gone.mp4"), str(out)).stderr


@pytest.mark.parametrize("source", ["pyav", "ffmpeg"])
def test_a_file_m0_cannot_read_is_said_in_words_for_people(vod, tmp_path, source):
    """A text file saved as .mp4 (a downloader's '403 Forbidden' page) was 'not a media file
    m0 can read (moov atom not found)', FFmpeg's words for the insides of an MP4, which say
    nothing to a user and are not even true of it; random bytes named .mkv 'EBML header
    parsing failed'. Each is said in plain words, by either source: text is text, data not of
    its name's format says so, and an MP4 cut before its index is said to be incomplete."""
    files = {"page.mp4": b"<html><body>403 Forbidden</body></html>\n",
             "noise.mkv": bytes(range(256)) * 200,
             "cut.mp4": vod.read_bytes()[:100_000]}  # its index (moov) is at the end
    reader = "m0" if source == "pyav" else "ffmpeg"
    said = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        run = run_m0("analyze", str(tmp_path / name), str(tmp_path / "out"), "--source", source)
        assert run.returncode == 1
        [line] = run.stderr.splitlines()
        said[name] = line.removeprefix(f"Error: {tmp_path / name}: not a media file {reader} "
                                       "can read (")
    assert said == {
        "page.mp4": "it is text, not audio or video: a web page or an error message saved "
                    "under a media file's name?)",
        "noise.mkv": "its data is not .mkv data, whatever its name says)",
        "cut.mp4": "its MP4 index is missing: the recording is incomplete (still being "
                   "recorded, or a crash, a full disk, a stopped download); untrunc can rebuild "
                   "the index from a healthy recording made with the same settings)"}


def test_a_file_under_a_second_is_not_said_to_last_0_00(make_media):
    """m0 probe and m0 reference said a file of 0.4 s lasts '0:00' (whole seconds): under a
    second, they say '0.4 s'."""
    short = make_media("sine-0.4s.wav", "-f", "lavfi", "-i", "sine=duration=0.4")
    probed = run_m0("probe", str(short))
    assert probed.returncode == 0, probed.stderr
    assert probed.stdout.splitlines()[0] == f"{short}: audio, 0.4 s (wav)"
    measured = run_m0("reference", str(short), "-q")
    assert measured.returncode == 0, measured.stderr
    assert measured.stdout.splitlines()[1] == "  duration       0.4 s"


@pytest.mark.parametrize("analyzer, unit", sweep([
    ("onset", "dB of flux"), ("loudness", "LUFS"), ("rms-streaming", "dBFS"),
    ("loudness+onset", "dB"),
], {"rms-streaming", "loudness+onset"}, key=itemgetter(0)))
def test_m0_reference_labels_levels_in_the_analyzers_unit(make_media, analyzer, unit):
    """m0 reference --analyzer onset said 'average level -0.1 dBFS   max 7.5 dBFS', though
    onset's values are dB of flux (and loudness's LUFS): the levels are labelled with the
    analyzer's unit (dB for analyzers combined), and --json gives it as 'unit'."""
    path = make_media("sine-3s-units.wav", "-f", "lavfi", "-i", "sine=duration=3")
    run = run_m0("reference", str(path), "-q", "--analyzer", analyzer)
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(rf"  average level  -?\d+\.\d {unit}   max -?\d+\.\d {unit}",
                        run.stdout.splitlines()[2]), run.stdout
    # the thresholds, the default selector's limit and the histogram said 'dB' beside the
    # average's 'dBFS' ('aggressive  -39.5 dB'): levels of the same curve, in its unit too
    lines = run.stdout.splitlines()
    assert re.fullmatch(rf"  aggressive +-?\d+\.\d {unit}   \(10 %\)", lines[6]), lines
    assert re.search(rf"typical limit (-?\d+\.\d {unit}|-)$", lines[10]), lines
    assert re.fullmatch(rf"  +-?\d+\.\d … +-?\d+\.\d {unit} .*%", lines[-1]), lines
    as_json = run_m0("reference", str(path), "--json", "--analyzer", analyzer)
    assert json.loads(as_json.stdout)["unit"] == unit
