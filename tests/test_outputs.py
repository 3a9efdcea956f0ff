"""Writers and output commands: csv/edl/otio/fcpxml/chapters files read back with their own
readers, ``m0 chapters``, ``m0 reference``, the ``m0_register_writers`` hook."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import opentimelineio as otio
import pytest
from conftest import (
    _AUDIO_EXPR,
    LOUD_AT,
    chapters_of,
    ended_pid,
    run_m0,
    stop_when_made,
    stop_when_removed,
)

import m0core
from m0_plugins.selectors.adaptive import threshold_line
from m0_plugins.writers import timelines
from m0_plugins.writers.report import max_pool
from m0core import hookimpl
from m0core.errors import OptionError, OutputError
from m0core.media import chapters
from m0core.media.ffmpeg import ffmpeg_exe, probe
from m0core.model import Highlight
from m0core.options import Options

FORMATS = ("csv", "edl", "otio", "fcpxml", "chapters")


@pytest.fixture(scope="module")
def analysed(vod, tmp_path_factory):
    """One run over the ``vod`` fixture writing every format."""
    out = tmp_path_factory.mktemp("formats")
    return m0core.analyze(vod, out, workers=2, formats=FORMATS)


@pytest.fixture(scope="module")
def audio_only(wav, tmp_path_factory):
    """One run over the ``wav`` fixture (the same audio, no video) writing every format."""
    out = tmp_path_factory.mktemp("audio-formats")
    return m0core.analyze(wav, out, workers=2, formats=FORMATS)


#: The run fixtures: (name, frame rate of its timelines, timecode rate of its EDL, EDL channel:
#: ``B`` picture and sound, ``A`` sound)
RUNS = [("analysed", 15, 30, "B"), ("audio_only", 25, 25, "A")]


@pytest.mark.parametrize("run, rate, edl_rate, channel", RUNS)
@pytest.mark.parametrize("name", ["highlights.otio", "highlights.edl", "highlights.fcpxml"])
def test_timelines_read_back_with_otio(request, run, rate, edl_rate, channel, name):
    result = request.getfixturevalue(run)
    kwargs = {"rate": edl_rate} if name.endswith(".edl") else {}
    timeline = otio.adapters.read_from_file(str(result.out_dir / name), **kwargs)
    # a recording with sound has a sound track of the same clips beside the picture's
    track = (timeline.video_tracks() if channel == "B" else timeline.audio_tracks())[0]
    clips = list(track.find_clips())
    assert len(clips) == len(result.highlights) == len(LOUD_AT)
    frame = 1 / rate
    for clip, h in zip(clips, result.highlights, strict=True):
        assert clip.source_range.start_time.to_seconds() == pytest.approx(h.start, abs=frame)
        assert clip.source_range.duration.to_seconds() == pytest.approx(h.duration, abs=frame)
        assert clip.name.startswith(f"{h.index:02d} ")
    if name.endswith(".otio"):
        assert clips[0].media_reference.target_url == Path(result.media.path).as_uri()


@pytest.mark.parametrize("name", ["highlights.otio", "highlights.fcpxml"])
def test_timelines_of_a_recording_with_sound_carry_its_sound(analysed, name):
    """The OTIO and FCPXML timelines of a recording with picture and sound held a picture
    track alone (an FCPXML asset without audio, hasAudio="0"): Resolve and Final Cut brought
    the highlights in without their sound, as the EDL's 'V' events did. A sound track under
    the picture holds the same windows of the recording."""
    timeline = otio.adapters.read_from_file(str(analysed.out_dir / name))
    windows = [[clip.source_range for clip in tracks[0].find_clips()]
               for tracks in (timeline.video_tracks(), timeline.audio_tracks())]
    assert windows[0] == windows[1] and len(windows[0]) == len(analysed.highlights)
    for clip in timeline.audio_tracks()[0].find_clips():
        assert clip.media_reference.target_url == Path(analysed.media.path).as_uri()
    if name.endswith(".fcpxml"):  # one browser clip a highlight, as before
        root = ElementTree.parse(analysed.out_dir / name).getroot()
        assert len(root.findall("asset-clip")) == len(analysed.highlights)
        assert [asset.get("hasAudio") for asset in root.iter("asset")] == ["1"]


@pytest.mark.parametrize("run, rate, edl_rate, channel", RUNS)
def test_edl_is_cmx3600_text(request, run, rate, edl_rate, channel):
    result = request.getfixturevalue(run)
    text = (result.out_dir / "highlights.edl").read_text()
    events = re.findall(rf"^(\d{{3}})\s+\S+\s+{channel}\s+C\s+([\d:]{{11}}) ([\d:]{{11}}) "
                        r"([\d:]{11}) ([\d:]{11})$", text, re.M)
    assert [e[0] for e in events] == ["001", "002"]
    assert len(re.findall(r"^\d{3} ", text, re.M)) == 2  # no other event
    assert text.splitlines()[1] == "FCM: NON-DROP FRAME"
    h = result.highlights[1]
    start = otio.opentime.RationalTime.from_seconds(h.start, edl_rate).round()
    assert events[1][1] == otio.opentime.to_timecode(start, edl_rate)


def test_edl_events_of_a_recording_with_sound_carry_its_sound(analysed, audio_only):
    """Premiere and Resolve import a ``V`` event as picture alone: a recording with picture and
    sound has ``B`` events (video and audio 1), an audio-only one ``A`` events."""
    for result, channel in [(analysed, "B"), (audio_only, "A")]:
        text = (result.out_dir / "highlights.edl").read_text()
        channels = [line.split()[2] for line in text.splitlines() if line[:3].isdigit()]
        assert channels == [channel] * len(result.highlights)
    timeline = otio.adapters.read_from_file(str(analysed.out_dir / "highlights.edl"), rate=30)
    sound = [clip.source_range for clip in timeline.audio_tracks()[0].find_clips()]
    picture = [clip.source_range for clip in timeline.video_tracks()[0].find_clips()]
    assert sound == picture and len(sound) == len(analysed.highlights)


def _ntsc(make_media, rate: str = "30000/1001") -> Path:
    """A 60 s 160x120 mp4 at an NTSC ``rate`` with the loud moments of :data:`LOUD_AT`."""
    name = "ntsc.mp4" if rate == "30000/1001" else f"ntsc{rate.split('/')[0]}.mp4"
    return make_media(name, "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate={rate}:duration=60",
                      "-filter_complex", _AUDIO_EXPR.format(d=60), "-c:v", "libx264",
                      "-preset", "ultrafast", "-c:a", "aac", "-shortest")


def test_an_edl_at_29_97_fps_says_its_timecodes_drop_frames(make_media, tmp_path):
    ntsc = _ntsc(make_media)
    result = m0core.analyze(ntsc, tmp_path, clips=False, report=False, formats=("edl",))
    text = (tmp_path / "highlights.edl").read_text()
    assert text.splitlines()[1] == "FCM: DROP FRAME"
    events = re.findall(r"^\d{3}\s+\S+\s+B\s+C\s+(\S+) (\S+)", text, re.M)
    assert len(events) == len(result.highlights) and all(";" in a for a, _ in events)
    timeline = otio.adapters.read_from_file(str(tmp_path / "highlights.edl"), rate=30000 / 1001)
    for clip, h in zip(timeline.video_tracks()[0].find_clips(), result.highlights, strict=True):
        assert clip.source_range.start_time.to_seconds() == pytest.approx(h.start, abs=0.04)


@pytest.mark.parametrize("rate", ["30000/1001", "60000/1001", "24000/1001"])
def test_fcpxml_times_of_an_ntsc_recording_fall_on_its_frames(make_media, tmp_path, rate):
    """At 29.97 fps the FCPXML's frame is 1001/30000 s, but its times were counted in frames
    of 1/29.97 s (a 30 s clip lasted 89900/2997 s, 899.0009 frames): every time fell between
    two frames, which Final Cut refuses ('not on an edit frame boundary'). Each is a whole
    number of frames, each clip where its highlight is."""
    result = m0core.analyze(_ntsc(make_media, rate), tmp_path, clips=False, report=False,
                            formats=("fcpxml",))
    root = ElementTree.parse(tmp_path / "highlights.fcpxml").getroot()
    frame = Fraction(root.find("resources/format").get("frameDuration").rstrip("s"))
    assert frame == 1 / Fraction(rate)
    times = [Fraction(value.rstrip("s")) for element in root.iter()
             for name, value in element.attrib.items() if name in ("offset", "duration", "start")]
    assert times and all((t / frame).denominator == 1 for t in times)
    clips = root.findall("project/sequence/spine/clip")
    assert len(clips) == len(result.highlights) == len(LOUD_AT)
    for clip, h in zip(clips, result.highlights, strict=True):
        assert float(Fraction(clip.get("start", "0s").rstrip("s"))) == \
            pytest.approx(h.start, abs=float(frame))
        assert float(Fraction(clip.get("duration").rstrip("s"))) == \
            pytest.approx(h.duration, abs=float(frame))


def test_timelines_of_a_23_976_fps_recording_point_at_its_frames_hours_in(make_media, tmp_path):
    """EDL and FCPXML count 23.976 fps in 23.98 timecode, and counted a time's frames at 23.98
    a second: 3 h into a recording its highlight's frame was 43 frames (1.8 s) late. Its
    frames are counted at the rate the recording has (24000/1001), as an editor counts
    them; at 29.97 and 59.94 too, where the two part by a frame in some hours."""
    result = m0core.analyze(_ntsc(make_media, "24000/1001"), tmp_path, clips=False,
                            report=False)
    hours = 3 * 3600
    late = replace(result.highlights[0], start=result.highlights[0].start + hours,
                   end=result.highlights[0].end + hours,
                   peak_time=result.highlights[0].peak_time + hours)
    result = replace(result, highlights=(late,),
                     media=replace(result.media, duration=result.media.duration + hours))
    frame = Fraction(1001, 24000)
    want = round(Fraction(late.start) / frame)
    for fmt in ("edl", "fcpxml"):
        timelines.TimelineWriter(fmt).write(result, tmp_path)
    edl = (tmp_path / "highlights.edl").read_text()
    (source_in,) = re.findall(r"^001\s+\S+\s+B\s+C\s+(\S+) ", edl, re.M)
    hh, mm, ss, ff = (int(part) for part in source_in.split(":"))
    assert ((hh * 60 + mm) * 60 + ss) * 24 + ff == want
    root = ElementTree.parse(tmp_path / "highlights.fcpxml").getroot()
    (clip,) = root.findall("project/sequence/spine/clip")
    assert Fraction(clip.get("start").rstrip("s")) == want * frame


@pytest.mark.parametrize("name, reel", [("My Stream.mp4", "MyStream"), ("día 2.mp4", "da2"),
                                        ("ライブ.mp4", "AX")])
def test_an_edl_reel_is_one_word(vod, tmp_path, name, reel):
    """A recording named 'My Stream.mp4' had EDL events whose reel was 'My Strea': read field
    by field, as editors and OpenTimelineIO read an event, its channel was 'Strea', and its
    events were picture alone ('V': the sound's 'B' was not written); one named in other
    letters ('ライブ.mp4') had no reel at all. The reel is the name's Latin letters and digits
    (8 at most), 'AX' (an auxiliary source) when it has none."""
    (tmp_path / name).symlink_to(vod)
    result = m0core.analyze(tmp_path / name, tmp_path / "out", clips=False, report=False,
                            formats=("edl",))
    edl = tmp_path / "out" / "highlights.edl"
    events = [line.split() for line in edl.read_text().splitlines() if line[:3].isdigit()]
    assert len(events) == len(result.highlights) == len(LOUD_AT)
    assert all(len(event) == 8 and event[1:4] == [reel, "B", "C"] for event in events)
    timeline = otio.adapters.read_from_file(str(edl), rate=30)
    for track in (timeline.video_tracks()[0], timeline.audio_tracks()[0]):
        for clip, h in zip(track.find_clips(), result.highlights, strict=True):
            assert clip.source_range.start_time.to_seconds() == pytest.approx(h.start, abs=1 / 30)


def test_an_edl_of_a_name_with_a_line_break_reads_back(wav, tmp_path):
    """A recording whose name holds a line break (a title pasted from a chat) had an EDL whose
    ``TITLE:`` line went on over two lines: 'line highlights' is no EDL statement, and an
    editor's import (OpenTimelineIO's: 'Unknown event type') refused the file. A control
    character in the title is a space."""
    odd = tmp_path / "day 1\nfinal\tcut.wav"
    odd.symlink_to(wav)
    result = m0core.analyze(odd, tmp_path / "out", clips=False, report=False,
                            formats=("edl",))
    text = (tmp_path / "out" / "highlights.edl").read_text()
    assert text.splitlines()[:2] == ["TITLE: day 1 final cut highlights", "FCM: NON-DROP FRAME"]
    timeline = otio.adapters.read_from_file(str(tmp_path / "out" / "highlights.edl"), rate=25)
    assert len(list(timeline.find_clips())) == len(result.highlights) == len(LOUD_AT)


@pytest.mark.parametrize("media", ["vod", "wav"])
def test_timelines_of_no_highlights_are_empty(request, media, tmp_path):
    result = m0core.analyze(request.getfixturevalue(media), tmp_path, clips=False,
                            report=False, selector="crest", threshold=0.0,
                            formats=("edl", "otio", "fcpxml"))
    assert result.highlights == ()
    edl = (tmp_path / "highlights.edl").read_text()
    assert edl.startswith("TITLE: vod highlights") and not re.search(r"^\d{3} ", edl, re.M)
    for name, kwargs in [("highlights.edl", {"rate": 25}), ("highlights.otio", {}),
                         ("highlights.fcpxml", {})]:
        timeline = otio.adapters.read_from_file(str(tmp_path / name), **kwargs)
        assert list(timeline.find_clips()) == []


def test_csv_has_one_row_per_highlight(analysed):
    with open(analysed.out_dir / "highlights.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(analysed.highlights)
    for row, h in zip(rows, analysed.highlights, strict=True):
        assert float(row["peak_time"]) == pytest.approx(h.peak_time, abs=0.001)
        assert (analysed.out_dir / row["clip"]).is_file()


def test_csv_says_why_each_highlight_was_chosen_and_where_its_clip_starts(analysed):
    """The reason and clip_start of highlights.json, in columns after the first ones (a
    script reading those by position keeps working)."""
    with open(analysed.out_dir / "highlights.csv", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert header[:9] == ["index", "start", "end", "peak_time", "position", "peak_db", "score",
                          "kind", "clip"]
    assert header[9:] == ["reason", "clip_start"]
    record = json.loads((analysed.out_dir / "highlights.json").read_text())["highlights"]
    assert rows and len(rows) == len(record)
    for row, h in zip(rows, record, strict=True):
        cells = dict(zip(header, row, strict=True))
        assert cells["reason"] == h["reason"] and "dB" in cells["reason"]
        assert float(cells["clip_start"]) == h["clip_start"]


def test_csv_cells_are_never_read_as_formulas(analysed, tmp_path):
    """A spreadsheet takes a cell beginning with = + - @ for a formula: m0's own reasons
    ('+14 dB over …' read #NAME? in Excel) begin with a word, and any other such text (a
    plugin's reason, a file's name) begins with an apostrophe; numbers stay numbers."""
    from m0_plugins.writers.tables import FORMULA_START, CsvWriter

    with open(analysed.out_dir / "highlights.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(not r["reason"].startswith(FORMULA_START) and r["reason"][0].isalpha()
                        for r in rows)
    odd = ["=HYPERLINK(\"http://x\")", "+3 dB over it", "-2 dB", "@SUM(A1)"]
    first = analysed.highlights[0]
    result = replace(analysed, highlights=tuple(replace(first, reason=text) for text in odd),
                     clips=())
    CsvWriter().write(result, tmp_path)
    with open(tmp_path / "highlights.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["reason"] for r in rows] == ["'" + text for text in odd]
    assert all(float(r["peak_db"]) < 0 and float(r["start"]) >= 0 for r in rows)


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_chapters_file_muxes_one_chapter_per_highlight(analysed, tmp_path, ext):
    """With the command docs/outputs.md gives: each highlight's chapter starts where its
    window does and ends where it does or the next begins, in MP4 (chapters with a start
    only) too."""
    out = tmp_path / f"with-chapters.{ext}"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", analysed.media.path,
                    "-i", str(analysed.out_dir / "chapters.txt"), "-map", "0",
                    "-map_chapters", "1", "-c", "copy", str(out)], check=True)
    found = [(s, e) for s, e, title in chapters_of(out) if title.startswith("Highlight ")]
    starts = [h.start for h in analysed.highlights]
    assert [round(s, 2) for s, _ in found] == [round(s, 2) for s in starts]
    for (_, end), h, after in zip(found, analysed.highlights, [*starts[1:], math.inf],
                                  strict=True):
        assert end == pytest.approx(min(h.end, after), abs=0.01)


@pytest.mark.parametrize("ext, length", [("mp4", 30), ("mkv", 30), ("mp4", 10), ("mkv", 10)])
def test_m0_chapters_analyses_and_stream_copies(vod, tmp_path, ext, length):
    """Each highlight's chapter spans its clip window; in an MP4, whose chapters have a start
    only, the time before and between them is a chapter of its own (10 s clips: two)."""
    out = tmp_path / f"chaptered.{ext}"
    proc = run_m0("chapters", str(vod), str(out), "-q", "-l", str(length))
    assert proc.returncode == 0, proc.stderr
    windows = [(h.start, h.end) for h in
               m0core.analyze(vod, None, clip_length=length).highlights]
    found = chapters_of(out)
    mine = [(start, end) for start, end, title in found if title.startswith("Highlight ")]
    assert len(mine) == len(LOUD_AT)
    starts = [start for start, _ in windows]
    for i, ((start, end), (want_start, want_end), peak) in enumerate(
            zip(mine, windows, LOUD_AT, strict=True)):
        if i + 1 < len(windows):  # overlapping windows: the next one starts
            want_end = min(want_end, starts[i + 1])
        assert start == pytest.approx(want_start, abs=0.01) and start < peak < end
        assert end == pytest.approx(want_end, abs=0.01)
    gaps = sum(b > a + 0.001 for a, b in zip([0.0] + [e for _, e in windows[:-1]], starts,
                                              strict=True))
    assert gaps == (2 if length == 10 else 0)
    between = [title for _, _, title in found if not title.startswith("Highlight ")]
    assert between == ([chapters.BETWEEN] * gaps if ext == "mp4" else [])
    assert len(list(tmp_path.iterdir())) == 1  # no temporary file left


def test_chapters_of_windows_held_at_the_start_each_hold_their_peak(make_media, tmp_path):
    """Moments at 0:03 and 0:19 both have the window 0:00 to 0:30 (20 s before the peak, held
    at the recording's start): the first one's chapter was 0:00 to 0:00, empty, and the
    second's held both peaks. The two part midway between their peaks."""
    early = make_media(
        "early-moments.wav", "-filter_complex",
        "anoisesrc=color=pink:amplitude=0.02:duration=40[bed];"
        "sine=f=1000:duration=40,volume='0.8*(between(t,3,3.3)+between(t,19,19.3))':"
        "eval=frame[tone];[bed][tone]amix=inputs=2:normalize=0")
    result = m0core.analyze(early, tmp_path / "out", clips=False, report=False,
                            formats=("chapters",))
    first, second = result.highlights
    assert (first.start, first.end) == (second.start, second.end) == (0.0, 30.0)
    proc = run_m0("chapters", str(early), str(tmp_path / "early.mka"), "-q",
                  "--highlights", str(tmp_path / "out" / "highlights.json"))
    assert proc.returncode == 0, proc.stderr
    found = chapters_of(tmp_path / "early.mka")
    assert [title for _, _, title in found] == [chapters.chapter_title(h)
                                                for h in result.highlights]
    middle = (first.peak_time + second.peak_time) / 2
    assert [(start, end) for start, end, _ in found] == \
        [(0.0, pytest.approx(middle, abs=0.001)), (pytest.approx(middle, abs=0.001), 30.0)]
    written = (tmp_path / "out" / "chapters.txt").read_text()
    assert re.findall(r"START=(\d+)\nEND=(\d+)", written) == \
        [("0", str(round(middle * 1000))), (str(round(middle * 1000)), "30000")]


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_m0_chapters_counts_the_chapters_its_file_has(vod, tmp_path, ext):
    """m0 chapters said '2 chapters in out.mp4' of an MP4 with 4 (2 highlights, 2 '—' before
    and between them): it counts those a player lists, and says which are highlights."""
    out = tmp_path / f"counted.{ext}"
    proc = run_m0("chapters", str(vod), str(out), "-l", "10")
    assert proc.returncode == 0, proc.stderr
    found = chapters_of(out)
    between = sum(title == chapters.BETWEEN for _, _, title in found)
    assert between == (2 if ext == "mp4" else 0)
    said = f"{len(found)} chapters in {out}"
    if between:
        said += f": {len(LOUD_AT)} highlights, {between} '{chapters.BETWEEN}' before and " \
                "between them"
    assert proc.stdout.splitlines()[-1] == said

@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_nothing_found_gives_a_copy_and_a_chapters_file_without_chapters(vod, tmp_path, ext):
    out = tmp_path / f"none.{ext}"
    run = run_m0("chapters", str(vod), str(out), "-t", "5", "-q")  # a floor nothing reaches
    assert run.returncode == 0, run.stderr
    assert out.is_file() and chapters_of(out) == []
    analysed = run_m0("analyze", str(vod), str(tmp_path / "out"), "-t", "5", "--no-clips",
                      "-f", "chapters", "-q")
    assert analysed.returncode == 0, analysed.stderr
    assert (tmp_path / "out" / "chapters.txt").read_text() == ";FFMETADATA1\n"


def test_m0_chapters_reuses_highlights_json(analysed, tmp_path):
    out = tmp_path / "again.mkv"
    proc = run_m0("chapters", analysed.media.path, str(out),
                  "--highlights", str(analysed.out_dir / "highlights.json"))
    assert proc.returncode == 0, proc.stderr
    assert f"{len(analysed.highlights)} chapters" in proc.stdout
    assert [round(s, 2) for s, _, _ in chapters_of(out)] == [round(h.start, 2) for h in
                                                              analysed.highlights]


def test_m0_chapters_refuses_the_highlights_of_another_recording(analysed, make_media,
                                                                 tmp_path):
    """The highlights.json of the 60 s vod given for a 20 s file put chapters past its end
    (exit 0): one line saying whose highlights they are; nothing is written."""
    short = make_media("short20.mp4", "-f", "lavfi", "-i",
                       "testsrc2=size=160x120:rate=15:duration=20", "-c:v", "libx264",
                       "-preset", "ultrafast")
    out = tmp_path / "short.mkv"
    proc = run_m0("chapters", str(short), str(out),
                  "--highlights", str(analysed.out_dir / "highlights.json"))
    assert proc.returncode == 1
    assert proc.stderr == (f"Error: {analysed.out_dir / 'highlights.json'}: made of vod.mp4 "
                           "(1:00 long), not of short20.mp4 (0:20): give the highlights.json "
                           "of this recording\n")
    assert not out.exists()


@pytest.mark.parametrize("given, named", [
    (["--max-clips", "1"], "--max-clips"), (["-t", "-3", "--selector", "top"], "--selector"),
    (["--no-streaming"], "--no-streaming"),
])
def test_m0_chapters_refuses_selection_options_beside_highlights_json(analysed, tmp_path,
                                                                      given, named):
    out = tmp_path / "again.mkv"
    proc = run_m0("chapters", analysed.media.path, str(out),
                  "--highlights", str(analysed.out_dir / "highlights.json"), *given)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--highlights" in proc.stderr and named in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("out, highlights, message", [
    ("out.avi", None, "chapters need an .mp4"),
    ("out.mp4", "index.json", "not a highlights.json"),
    ("out.mp4", "missing.json", "cannot read"),
    ("nodir/out.mp4", None, "nodir: no such folder"),  # before analysing: no "Analysing"
])
def test_m0_chapters_bad_input_is_one_line(analysed, tmp_path, out, highlights, message):
    extra = ["--highlights", str(analysed.out_dir / highlights)] if highlights else []
    proc = run_m0("chapters", analysed.media.path, str(tmp_path / out), *extra)
    assert proc.returncode == 1 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, codecs, ext, named", [
    ("chapters-h264-aac.mp4", ("libx264", "aac"), "webm", "(h264 video, aac audio)"),
    ("chapters-vp8-opus.webm", ("libvpx", "libopus"), "mp4", "(vp8 video, opus audio)"),
])
def test_m0_chapters_refuses_streams_its_container_cannot_hold_before_analysing(
        make_media, tmp_path, own_cache, name, codecs, ext, named):
    """H.264 and AAC cannot go in a WebM file (VP8, VP9, AV1; Vorbis, Opus), VP8 in an MP4:
    the whole recording was analysed (minutes for a 6-hour VOD) before the copy failed. One
    line naming the codecs and suggesting .mkv comes first: no analysis (it caches the
    recording's levels), nothing written."""
    video, audio = codecs
    recording = make_media(name, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15:duration=8",
                           "-f", "lavfi", "-i", "sine=frequency=440:duration=8",
                           "-c:v", video, "-c:a", audio, "-shortest")
    out = tmp_path / f"chaptered.{ext}"
    proc = run_m0("chapters", str(recording), str(out))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"Error: {out}: {name} {named} cannot be copied into .{ext}")
    assert proc.stderr.rstrip().endswith("; write an .mkv instead")
    assert list(tmp_path.iterdir()) == [] and list(own_cache.iterdir()) == []
    assert run_m0("chapters", str(recording), str(out.with_suffix(".mkv")), "-q").returncode == 0


@pytest.mark.parametrize("ext, codec", [("m4a", "aac"), ("mov", "pcm_s16le")])
def test_m0_chapters_encodes_the_sound_its_container_does_not_play(wav, tmp_path, ext, codec):
    """m0 chapters talk.wav out.m4a copied the WAV's PCM into the M4A, which players and
    podcast apps do not play: a track of a codec the container's players do not play is
    encoded (AAC in an M4A or MP4), one they do is copied (PCM in a MOV, QuickTime's own)."""
    out = tmp_path / f"talk.{ext}"
    proc = run_m0("chapters", str(wav), str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    written = probe(out)
    assert [t.codec for t in written.tracks] == [codec]
    assert written.duration == pytest.approx(60, abs=0.1)
    assert [title[:11] for _, _, title in chapters_of(out)] == ["Highlight 1", "Highlight 2"]


def test_m0_reference_json(vod):
    proc = run_m0("reference", str(vod), "--json")
    assert proc.returncode == 0, proc.stderr
    ref = json.loads(proc.stdout)
    assert ref["duration"] == pytest.approx(60, abs=0.1)
    t = ref["thresholds"]
    assert ref["percentiles"]["p50"] < t["aggressive"] <= t["balanced"] <= t["conservative"]
    assert t["conservative"] <= ref["max_db"]
    assert ref["average_db"] < ref["max_db"]
    assert ref["dynamic_range_db"] == pytest.approx(
        ref["percentiles"]["p95"] - ref["percentiles"]["p5"], abs=0.11)
    assert ref["adaptive_highlights"] == len(LOUD_AT)
    assert all(any(abs(p - x) < 2.5 for p in ref["adaptive_peaks"]) for x in LOUD_AT)
    assert sum(share for _, _, share in ref["histogram"]) == pytest.approx(1, abs=0.01)
    text = run_m0("reference", str(vod), "-q").stdout
    assert "balanced" in text and "Level histogram" in text and "2 highlights" in text


def test_m0_reference_counts_one_highlight_in_the_singular(make_media):
    one = make_media("one-burst.wav", "-filter_complex",
                     _AUDIO_EXPR.format(d=30).replace("+between(t,40,41)", ""), "-ac", "1")
    text = run_m0("reference", str(one), "-q").stdout
    assert "Default selector: 1 highlight; typical limit" in text


def test_m0_reference_of_silence_is_one_line(make_media):
    silent = make_media("silent.wav", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "5")
    proc = run_m0("reference", str(silent))
    assert proc.returncode == 1 and "is silent" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_format_fails_before_analysis(vod, tmp_path):
    proc = run_m0("analyze", str(vod), str(tmp_path / "out"), "-f", "nope")
    assert proc.returncode == 1
    assert 'unknown writer "nope"' in proc.stderr and "csv" in proc.stderr
    assert not (tmp_path / "out").exists()  # not even an empty folder


def test_no_report_and_json_always(vod, tmp_path):
    result = m0core.analyze(vod, tmp_path, clips=False, report=False, formats=["json"])
    assert result.options.formats == ()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["highlights.json", "index.json"]
    with pytest.raises(OptionError, match="formats"):
        Options(formats="csv")


def test_m0_register_writers_adds_a_format(wav, tmp_path, register_plugin):
    seen = []

    class Plain:
        def write(self, result, out_dir):
            target = out_dir / "plain.txt"
            target.write_text("\n".join(str(h.peak_time) for h in result.highlights))
            seen.append(result)
            return [target]

    class Plugin:
        @hookimpl
        def m0_register_writers(self, register):
            register("plain", Plain)

    register_plugin(Plugin(), "plain-writer")
    result = m0core.analyze(wav, tmp_path, clips=False, report=False, formats=["plain"])
    # the writer wrote into the run's staging folder, published when the run completed
    assert [replace(r, out_dir=result.out_dir, outputs=result.outputs) for r in seen] == [result]
    assert str(tmp_path / "plain.txt") in result.outputs  # what the run wrote, as published
    assert seen[0].out_dir.parent == tmp_path and seen[0].out_dir.name.startswith(".m0-run-")
    times = [float(x) for x in (tmp_path / "plain.txt").read_text().split()]
    assert times == [h.peak_time for h in result.highlights] and len(times) == len(LOUD_AT)


def test_failing_writer_keeps_the_other_outputs(vod, tmp_path, register_plugin):
    class Broken:
        def write(self, result, out_dir):
            raise OutputError("broken writer")

    class Plugin:
        @hookimpl
        def m0_register_writers(self, register):
            register("broken", Broken)

    register_plugin(Plugin(), "broken-writer")
    result = m0core.analyze(vod, tmp_path, formats=["broken", "csv"], workers=2)
    assert result.failed_outputs == ("broken writer",)
    made = {p.name for p in tmp_path.iterdir()}
    assert {"highlights.json", "index.json", "highlights.csv", "report.html", "thumbs"} <= made
    assert {Path(c.path).name for c in result.clips} <= made and len(result.clips) == 2


def test_a_rerun_whose_writer_fails_keeps_the_previous_results(vod, tmp_path, register_plugin):
    """A rerun whose report could not be written (a full disk) published its clips and
    highlights.json over the previous run's and removed the previous report as stale, then
    failed: now the previous results stay as they were, as for a clip that failed."""
    class Broken:
        def write(self, result, out_dir):
            raise OutputError(f"{out_dir / 'report.html'}: cannot write (No space left on device)")

    class Plugin:
        @hookimpl
        def m0_register_writers(self, register):
            register("broken", Broken)

    register_plugin(Plugin(), "broken-writer")
    first = m0core.analyze(vod, tmp_path, formats=["csv"], clip_length=4)
    assert not first.problems()
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    rerun = m0core.analyze(vod, tmp_path, formats=["broken", "csv"], clip_length=6)
    assert not rerun.published and all(c.path is None for c in rerun.clips)
    assert rerun.problems() == [f"{tmp_path / 'report.html'}: cannot write (No space left on "
                                "device)", f"the previous results in {tmp_path} were kept"]
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_a_file_that_cannot_be_written_is_named_where_it_was_to_go(vod, tmp_path,
                                                                    register_plugin):
    """Writers write into the run's private folder: a thumbnail that found the disk full was
    reported as ``OUT/.m0-run-<pid>-…/thumbs/22.jpg: cannot write``, a path gone by the time
    the user reads it; it is ``OUT/thumbs/22.jpg``."""
    class Full:
        def write(self, result, out_dir):
            target = out_dir / "thumbs" / "22.jpg"
            raise OutputError(f"{target}: cannot write (No space left on device)")

    class Plugin:
        @hookimpl
        def m0_register_writers(self, register):
            register("full", Full)

    register_plugin(Plugin(), "full-writer")
    result = m0core.analyze(vod, tmp_path, clips=False, report=False, formats=["full", "csv"])
    assert result.failed_outputs == (
        f"{tmp_path / 'thumbs' / '22.jpg'}: cannot write (No space left on device)",)
    assert (tmp_path / "highlights.csv").is_file()


def test_failing_writer_fails_the_command_keeping_the_other_outputs(vod, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "highlights.edl").mkdir()  # the EDL cannot be renamed onto a folder
    run = run_m0("analyze", str(vod), str(out), "-f", "edl", "-f", "csv", "--no-report", "-q")
    assert run.returncode == 1
    assert run.stderr.splitlines() == [f"Error: {out / 'highlights.edl'}: cannot write "
                                       "(Is a directory)"], run.stderr
    assert json.loads((out / "highlights.json").read_text())["clips"]["made"] == 2
    assert (out / "highlights.csv").is_file() and (out / "highlights.edl").is_dir()


def test_threshold_line_is_the_line_highlights_crossed(analysed):
    timeline = analysed.options.timeline(analysed.hop, analysed.media.duration)
    background, limit = threshold_line(analysed.scores, timeline)
    assert len(limit) == len(background) == 60 and np.all(limit >= background)
    for h in analysed.highlights:
        assert h.peak_db > limit[int(h.peak_time)]
    assert np.median(limit) > np.median(analysed.scores)


def test_max_pool_and_timecode_rate():
    assert max_pool(np.array([1, 5, 2, 3, 9]), 2).tolist() == [5, 3, 9]
    assert [timelines.timecode_rate(r) for r in (15, 30000 / 1001, 25, 12, 7)] == \
        [30.0, 29.97, 25.0, 24.0, 23.98]


def _many(wav: Path, out: Path, count: int) -> m0core.AnalysisResult:
    """``count`` highlights of 0.2 s over the ``wav`` fixture, a clip each, an OTIO timeline."""
    return m0core.analyze(wav, out, selector="top", selector_params={"count": count},
                          clip_length=0.2, min_gap=0.3, workers=2, report=False,
                          formats=("otio",))


@pytest.mark.slow  # 101 clips: the slow tier (CI runs it)
def test_a_run_of_100_or_more_pads_every_number_and_a_rerun_of_fewer_replaces_it(wav,
                                                                                  tmp_path):
    result = _many(wav, tmp_path, 101)
    assert len(result.highlights) == 101
    clips = sorted(p.name for p in tmp_path.glob("*.wav"))
    assert [name.split("_")[0] for name in clips] == [f"{i:03d}" for i in range(1, 102)]
    doc = json.loads((tmp_path / "highlights.json").read_text())
    assert [row["clip"] for row in doc["highlights"]] == clips
    assert [c.path for c in result.clips] == [str(tmp_path / name) for name in clips]
    timeline = otio.adapters.read_from_file(str(tmp_path / "highlights.otio"))
    assert [c.name[:4] for c in timeline.find_clips()] == [f"{i:03d} " for i in range(1, 102)]

    # a rerun with under 100: today's two digits, and the previous run's clips removed
    _many(wav, tmp_path, 3)
    clips = sorted(p.name for p in tmp_path.glob("*.wav"))
    assert [name.split("_")[0] for name in clips] == ["01", "02", "03"]
    assert [row["clip"] for row in json.loads(
        (tmp_path / "highlights.json").read_text())["highlights"]] == clips


def test_highlights_json_says_where_each_clip_starts_in_the_recording(analysed):
    """A copied clip starts with the keyframe before its window (every 2 s in ``vod``):
    highlights.json says where (``clip_start``), as the clip's result does."""
    doc = json.loads((analysed.out_dir / "highlights.json").read_text())
    rows = doc["highlights"]
    assert [r["clip_start"] for r in rows] == [round(c.start, 3) for c in analysed.clips]
    for row in rows:
        assert row["start"] - 2.1 <= row["clip_start"] <= row["start"]


def test_a_stop_just_after_the_output_folder_is_made_leaves_no_folder(tmp_path, monkeypatch):
    """Ctrl-C or a closed terminal (SIGHUP) that lands between the folder's mkdir and the
    block that fills it left an empty folder: the folder is made inside what removes it."""
    from m0core.outputs import out_dir_for

    stop_when_made(monkeypatch, "write-test")
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), out_dir_for(out):
        pass
    assert not out.exists()


def test_a_stop_while_the_write_test_is_made_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C that lands just after the output folder's write test file is made (before
    :mod:`tempfile` had handed it over to be removed) left it in the folder: a batch stopped
    0.3 s after it began left ``.partial-<pid>-<random>-write-test``."""
    from m0core.outputs import prepare_out_dir

    stop_when_made(monkeypatch, "write-test")
    with pytest.raises(KeyboardInterrupt):
        prepare_out_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_stop_as_the_write_test_is_removed_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C that lands as the write test file is being removed (inside ``Path.unlink``, before
    its ``os.unlink``) raised there and left the file: CI's signal sweep found
    ``.partial-<pid>-<random>-write-test`` after a batch stopped as it began. The stop is held
    while the file exists and comes after it is gone."""
    from m0core.outputs import prepare_out_dir

    stop_when_removed(monkeypatch, "write-test")
    with pytest.raises(KeyboardInterrupt):
        prepare_out_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_stop_while_an_output_file_is_made_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C that lands just after the temporary file of highlights.json (or any output
    written by a rename) is made leaves no temporary file: it is named before it is made."""
    from m0core.outputs import write_json_atomic

    stop_when_made(monkeypatch, "highlights.json")
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(tmp_path / "highlights.json", {"highlights": []})
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_stop_while_the_chapters_are_written_leaves_no_file(vod, tmp_path, monkeypatch):
    """Ctrl-C that lands just after the chapters' metadata file is made (:mod:`tempfile`
    made it before handing it over to be removed) leaves nothing beside the output."""
    stop_when_made(monkeypatch, "chapters.txt")
    with pytest.raises(KeyboardInterrupt):
        chapters.embed_chapters(vod, [Highlight(8.0, 18.0, 13.0, -6.0, 1.0, index=1)],
                                tmp_path / "with-chapters.mp4")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_stop_as_the_chapters_metadata_is_removed_leaves_no_file(vod, tmp_path, monkeypatch):
    """Ctrl-C that lands as the chapters' metadata file is removed, once the copy is made,
    raised inside that removal and left the file beside the output: it is removed as soon as
    ffmpeg has read it, where a stop still goes through the cleanup."""
    stop_when_removed(monkeypatch, "chapters.txt")
    target = tmp_path / "with-chapters.mp4"
    with pytest.raises(KeyboardInterrupt):
        chapters.embed_chapters(vod, [Highlight(8.0, 18.0, 13.0, -6.0, 1.0, index=1)], target)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] in ([], [target.name])


def test_each_threshold_m0_reference_suggests_picks_highlights_with_crest(wav):
    """m0 reference's conservative threshold was the level 0.5 % of the 0.1 s score values
    exceed, above every one-second level crest judges, and once those, rounded to 0.1 dB up
    as often as down, above the loudest (-12.2 dB over -12.22): passed back to m0 analyze
    --selector crest -t, it picked nothing. Each suggestion picks the loud moments."""
    from m0core.pipeline.reference import reference

    ref = reference(wav)
    for name, db in ref.thresholds.items():
        found = m0core.analyze(wav, None, selector="crest", threshold=db, clips=False)
        peaks = [h.peak_time for h in found.highlights]
        assert any(abs(p - x) < 2.5 for p in peaks for x in LOUD_AT), (name, db, peaks)


def test_m0_reference_labels_levels_in_the_unit_of_the_analyzer_that_measured(
        make_media, register_plugin):
    """m0 reference built the analyzer a second time after its run, only to read its
    ``unit``: a plugin that loads a model paid for it twice, and the label came from an
    instance that measured nothing. The result carries the unit of the analyzer that made
    it (one an option sets), from the cache too, and m0 reference reads it from there."""
    from m0core.pipeline.reference import reference

    tone = make_media("reference-unit-option.wav", "-f", "lavfi", "-i", "sine=duration=3")
    built: list[str] = []

    class Scaled:
        hop = 0.1

        def __init__(self, scale: str = "dBFS") -> None:
            built.append(scale)
            self.unit, self._samples, self._given = scale, 0, 0

        def feed(self, chunk):
            self._samples += len(chunk.samples)
            done = -(-self._samples // round(self.hop * chunk.sample_rate))
            values, self._given = done - self._given, done
            return np.full(values, -20.0, dtype=np.float32)

    class Plugin:
        @hookimpl
        def m0_register_analyzers(self, register):
            register("scaled", Scaled)

    register_plugin(Plugin(), "scaled-unit")
    options = Options(analyzer="scaled", analyzer_params={"scale": "LUFS"})
    assert m0core.analyze(tone, None, options, clips=False, cache=False).unit == "LUFS"
    for cached in (False, True):
        built.clear()
        ref = reference(tone, options)
        assert (ref.unit, built) == ("LUFS", ["LUFS"]), cached


def test_m0_reference_names_the_track_its_thresholds_are_of(make_media, tmp_path):
    """m0 reference --audio-track 2 said 'Thresholds for --selector crest -t DB': a threshold
    of the microphone passed so to m0 analyze judged track 1, the game's bed, and picked
    nothing. The line names the options to give with it, and they pick the shout."""
    two = make_media("reference-two-tracks.mka", "-f", "lavfi", "-i",
                     "anoisesrc=d=30:a=0.02:seed=1", "-f", "lavfi", "-i",
                     "anoisesrc=d=30:a=0.02:seed=2,volume='if(between(t,12,14),30,1)'"
                     ":eval=frame", "-map", "0", "-map", "1", "-c:a", "flac")
    text = run_m0("reference", str(two), "--audio-track", "2", "-q").stdout
    said = re.search(r"Thresholds for (.*) -t DB .*\n\s+aggressive\s+(\S+) dB", text)
    assert said, text
    run = run_m0("analyze", str(two), str(tmp_path / "out"), *said.group(1).split(), "-t",
                 said.group(2), "--no-clips", "--json", "-q")
    assert run.returncode == 0, run.stderr
    peaks = [h["peak_time"] for h in json.loads(run.stdout)["highlights"]]
    assert peaks and all(12 <= p <= 14.1 for p in peaks), (said.group(0), peaks)


def test_m0_reference_says_a_recording_looks_cut_short(wav, tmp_path):
    """m0 reference of a recording cut short (a copy that stopped) gave its duration as where
    the audio ends, 0:40 of a 1:00 WAV, and said nothing of it, where m0 analyze warns. It
    warns as m0 analyze does, and --json's ``warnings`` holds it."""
    cut = tmp_path / "cut.wav"
    cut.write_bytes(wav.read_bytes()[:wav.stat().st_size * 2 // 3])
    for json_too in ([], ["--json"]):
        run = run_m0("reference", str(cut), "-q", *json_too)
        assert run.returncode == 0, run.stderr
        assert run.stderr.startswith(f"Warning: {cut}: looks cut short: its audio ends at 40."), \
            run.stderr
    assert json.loads(run.stdout)["warnings"] == [run.stderr.strip()[len("Warning: "):]]


def test_m0_probe_says_a_recording_looks_cut_short(make_media, tmp_path):
    """m0 probe of an MKV cut short (OBS's after a crash, a copy that stopped) gave the 1:00 it
    declares, and nothing said that it plays 0:20 (m0 analyze and m0 reference warn). It
    warns that it looks cut short, its listing unchanged; a whole file has no warning."""
    whole = make_media("probe-whole.mkv", "-f", "lavfi", "-i", "sine=duration=60",
                       "-c:a", "flac")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 3])
    run = run_m0("probe", str(cut))
    assert run.returncode == 0 and run.stdout.startswith(f"{cut}: audio, 1:00"), run.stdout
    assert run.stderr.startswith(f"Warning: {cut}: looks cut short: the file stops in the "
                                 "middle of its data"), run.stderr
    # --json had no word of it: a script saw a whole recording of 1:00
    as_json = run_m0("probe", str(cut), "--json")
    assert json.loads(as_json.stdout)["warnings"] == [
        as_json.stderr.strip().removeprefix("Warning: ")], as_json.stderr
    whole_json = run_m0("probe", str(whole), "--json")
    assert whole_json.stderr == "" and json.loads(whole_json.stdout)["warnings"] == []


def test_a_sweep_of_a_shared_folder_leaves_this_process_s_own_temporaries(tmp_path):
    """In a folder other batches of this process may be using (the system's temporary folder,
    where a local Dask cluster keeps its files), a sweep with ``own=False`` removes only what
    ended processes left."""
    from m0core.outputs import remove_stale_temps, temp_name

    ended = ended_pid()
    left = tmp_path / f".partial-{ended}-k2j3h4g5-dask"
    mine = tmp_path / temp_name("dask")
    for folder in (left, mine):
        folder.mkdir()
        (folder / "lock").write_bytes(b"")
    remove_stale_temps(tmp_path, own=False)
    assert not left.exists() and mine.exists()
    remove_stale_temps(tmp_path)
    assert not mine.exists()
