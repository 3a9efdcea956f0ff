"""report.html in a real headless Chromium: no console errors, the plot, clips that play.

The browser comes from conftest.py's ``browser`` fixture (Debian's chromium; see there).
Screenshots go to a temporary folder, printed with ``-s`` or ``-rA``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import LOUD_AT, Page

import m0core
from m0_plugins.writers.report import OVERVIEW_POINTS, ReportWriter, render, report_data
from m0core.cli.console import clock
from m0core.model import AudioTrack, ClipResult, Highlight, MediaInfo, Stage
from m0core.options import Options
from m0core.result import AnalysisResult
from m0core.testing import run_ffmpeg


def test_report_of_a_video(vod, tmp_path, browser, shots):
    result = m0core.analyze(vod, tmp_path, workers=2)
    n = len(result.highlights)
    assert n == len(LOUD_AT)
    thumbs = sorted((tmp_path / "thumbs").glob("*.jpg"))
    assert [t.name for t in thumbs] == ["01.jpg", "02.jpg"]
    assert all(t.read_bytes()[:2] == b"\xff\xd8" for t in thumbs)

    page = Page(browser, (tmp_path / "report.html").as_uri())
    assert page.count("#overview .mark") == n and page.count("#detail .mark") == n
    assert page.points("#overview .curve") > 100 and page.points("#detail .limit") > 10
    box = page.page.locator("#overview").bounding_box()
    assert box["width"] > 800 and box["height"] > 50
    assert page.count("#rows tbody tr") == n and page.count("#rows video") == n
    assert page.unnamed_players() == 0
    cells = page.page.locator("#rows tbody tr td.num").all_inner_texts()
    levels = [float(c.removesuffix(" dB")) for c in cells if re.fullmatch(r"-?\d+\.\d dB", c)]
    plain = [float(c) for c in cells if re.fullmatch(r"-?\d+\.\d", c)]
    for h in result.highlights:  # the score is the selector's own (standout: dB·s), not dB
        # shown to a tenth of the JSON's value, itself rounded to a hundredth: within 0.06
        assert any(abs(v - h.peak_db) <= 0.06 for v in levels), (h.peak_db, cells)
        assert any(abs(v - h.score) <= 0.06 for v in plain), (h.score, cells)
    loaded = page.page.evaluate(
        "[...document.querySelectorAll('img.thumb')].map(i => i.complete && i.naturalWidth)")
    assert loaded == [320, 320]
    before, after = page.plays("#rows video")
    assert before == 0 and after > 0.3
    page.page.locator("#rows .jump").nth(1).click()
    assert page.count("#detail .mark.on") == 1
    page.page.screenshot(path=str(shots / "report-video.png"), full_page=True)
    assert page.problems == []
    print(f"screenshot: {shots / 'report-video.png'}")


def test_report_of_audio_only(wav, tmp_path, browser, shots):
    result = m0core.analyze(wav, tmp_path, workers=2)
    assert not (tmp_path / "thumbs").exists()
    page = Page(browser, (tmp_path / "report.html").as_uri())
    assert page.count("#rows audio") == len(result.highlights) == len(LOUD_AT)
    assert page.count("#rows video, img.thumb") == 0
    assert page.unnamed_players() == 0
    before, after = page.plays("#rows audio")
    assert after > before + 0.3
    page.page.screenshot(path=str(shots / "report-audio.png"), full_page=True)
    assert page.problems == []


def sound_result(folder: Path, name: str, duration: float, scores: np.ndarray, hop: float,
                 highlights=(), options: Options | None = None,
                 selector: str = "standout") -> AnalysisResult:
    """An analysis result of the audio-only recording ``name`` (no media) in ``folder``."""
    media = MediaInfo(str(folder / name), duration, 48000, 1, has_video=False)
    return AnalysisResult(media, tuple(highlights), (), scores, hop, options or Options(),
                          Stage("ffmpeg"), Stage("rms-streaming"), Stage(selector), folder)


def report_page(result: AnalysisResult, browser, folder: Path) -> Page:
    """``result``'s report.html, written to ``folder`` (no thumbnails), open in ``browser``."""
    (page_path,) = ReportWriter(thumbnails=False).write(result, folder)
    return Page(browser, page_path.as_uri())


def six_hours(out_dir: Path) -> AnalysisResult:
    """An analysis result of a 6 h recording (a noisy bed with 40 loud bursts), no media."""
    hop, duration = 0.1, 6 * 3600.0
    rng = np.random.default_rng(6)
    scores = (-38 + 2 * rng.standard_normal(int(duration / hop))).astype(np.float32)
    peaks = np.linspace(300, duration - 300, 40)
    highlights = []
    for i, t in enumerate(peaks, 1):
        scores[int(t / hop) - 10:int(t / hop) + 10] = -12.0
        highlights.append(Highlight(t - 20, t + 10, t, -12.0, 20.0, "burst", i))
    media = MediaInfo(str(out_dir / "six-hours.mp4"), duration, 48000, 2, has_video=True)
    return AnalysisResult(media, tuple(highlights), (), scores, hop, Options(),
                          Stage("ffmpeg"), Stage("rms-streaming"), Stage("adaptive"), out_dir)


def test_report_of_six_hours_stays_small_and_zooms(tmp_path, browser, shots):
    result = six_hours(tmp_path)
    (page_path,) = ReportWriter(thumbnails=False).write(result, tmp_path)
    assert page_path.stat().st_size < 1_500_000
    page = Page(browser, page_path.as_uri())
    assert page.count("#overview .mark") == 40
    assert page.points("#overview .curve") <= OVERVIEW_POINTS + 1
    # the detail view opens on 10 minutes around the first highlight
    assert page.count("#detail .mark") == 1
    assert "Detail 0:00 – 10:00" in page.page.inner_text("#detail-range")
    page.page.click("#zoom-all")
    assert page.count("#detail .mark") == 40
    page.page.click("#zoom-in")
    page.page.click("#zoom-in")
    assert 5 <= page.count("#detail .mark") <= 15
    page.page.locator("#overview").click(position={"x": 3, "y": 40})  # left of every mark
    assert "Detail 0:00 – 1:30:00" in page.page.inner_text("#detail-range")
    page.page.locator("#overview .mark").nth(20).click()  # jumps to highlight 21
    assert page.page.locator("#detail .mark.on").get_attribute("data-index") == "21"
    assert page.page.locator("#rows tr.on").get_attribute("data-index") == "21"
    page.page.evaluate("window.scrollTo(0, 0)")
    page.page.screenshot(path=str(shots / "report-6h.png"), full_page=False)
    assert page.problems == []


def test_report_jumps_to_a_highlight_from_the_keyboard(tmp_path, browser):
    """Tab reaches each highlight's peak time, its focus is drawn, and Enter shows the
    highlight in the plot, as a click does."""
    result = six_hours(tmp_path)
    page = report_page(result, browser, tmp_path)
    target = result.highlights[20]
    wanted = clock(target.peak_time)
    focused = ""
    for _ in range(3 + 25):  # the three zoom buttons, then one stop per row
        page.page.keyboard.press("Tab")
        focused = page.page.evaluate("document.activeElement.textContent")
        if focused == wanted:
            break
    assert focused == wanted, "Tab never reaches the peak time of highlight 21"
    outline = page.page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.page.keyboard.press("Enter")
    assert page.page.locator("#detail .mark.on").get_attribute("data-index") == "21"
    assert page.page.locator("#rows tr.on").get_attribute("data-index") == "21"
    assert page.problems == []


def test_report_draws_a_threshold_above_every_score_where_it_is(tmp_path, browser):
    """A recording with no highlights: its level (about -30 dB) never reaches the threshold
    (-20 dB). The plot shows the line 10 dB over the curve, not pinned to the top edge."""
    hop, duration = 0.1, 600.0
    rng = np.random.default_rng(3)
    scores = (-30 + 0.3 * rng.standard_normal(int(duration / hop))).astype(np.float32)
    result = sound_result(tmp_path, "quiet.wav", duration, scores, hop, (),
                          Options(threshold=-20.0), "crest")
    page = report_page(result, browser, tmp_path)
    assert page.page.inner_text("#count") == "No highlights"
    for plot in ("#overview", "#detail"):
        limit, curve = (page.page.evaluate(
            f"document.querySelector('{plot} .{c}').getAttribute('points').split(' ')"
            ".map(p => Number(p.split(',')[1]))") for c in ("limit", "curve"))
        height = page.page.evaluate(f"document.querySelector('{plot}').clientHeight")
        assert len(set(limit)) == 1 and min(limit) > 2, (plot, limit[:3])  # not at the edge
        # y grows downwards: the curve's median is 10 dB below the line, in the plot's scale
        low, high = page.page.evaluate("D.range")
        pad = 18 if plot == "#detail" else 2
        drawn = (sorted(curve)[len(curve) // 2] - limit[0]) / (height - pad) * (high - low)
        assert abs(drawn - 10) < 1.0, (plot, drawn)
    assert page.problems == []


def test_report_labels_of_many_highlights_do_not_overlap(tmp_path, browser):
    """200 highlights in 40 minutes: the whole-file detail view labels as many as fit, none
    drawn over another; zoomed in, every highlight has its label."""
    hop, duration = 0.1, 2400.0
    scores = np.full(int(duration / hop), -40.0, dtype=np.float32)
    highlights = []
    for i, t in enumerate(np.linspace(10, duration - 10, 200), 1):
        scores[int(t / hop) - 5:int(t / hop) + 5] = -10.0
        highlights.append(Highlight(t - 3, t + 3, t, -10.0, 30.0, "burst", i))
    result = sound_result(tmp_path, "many.wav", duration, scores, hop, highlights)
    page = report_page(result, browser, tmp_path)
    boxes = """[...document.querySelectorAll('#detail text.label')].map(t => {
        const b = t.getBoundingClientRect(); return [b.left, b.right]; })"""
    for view in ("#zoom-all", "#zoom-in"):
        page.page.click(view)
        spans = sorted(page.page.evaluate(boxes))
        assert len(spans) >= 10, view
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), f"overlap: {view}"
    for _ in range(3):
        page.page.click("#zoom-in")
    assert page.count("#detail text.label") == page.count("#detail .mark") > 0
    assert page.problems == []



def edge_page(tmp_path: Path, browser, peak_db: float = -10.0) -> tuple[Page, list, dict]:
    """The report of 10 minutes at -34 dB (so the plot's bottom is -40 dB, a labelled level)
    with highlights peaking at 1:40 and in the last half second (at ``peak_db``); its page,
    the box of every text of the detail plot (text, left, top, right, bottom) and the plot's
    box."""
    hop, duration = 0.1, 600.0
    scores = np.full(int(duration / hop), -34.0, dtype=np.float32)
    highlights = []
    for i, t in enumerate((100.0, 599.5), 1):
        scores[int(t / hop) - 5:int(t / hop)] = -10.0
        highlights.append(Highlight(t - 20, min(t + 10, duration), t, peak_db, 3.0, "held", i))
    result = sound_result(tmp_path, "edge.wav", duration, scores, hop, highlights)
    page = report_page(result, browser, tmp_path)
    boxes = page.page.evaluate("""sel => [...document.querySelectorAll(sel)].map(t => {
        const b = t.getBoundingClientRect();
        return [t.textContent, b.left, b.top, b.right, b.bottom]; })""", "#detail text")
    return page, boxes, page.page.locator("#detail").bounding_box()


def test_report_label_of_a_highlight_at_the_end_is_whole(tmp_path, browser):
    """A highlight peaking in the last half second has its whole label inside the plot: its
    "#2" was drawn right of the peak, past the plot's edge, and read "#"."""
    page, boxes, plot = edge_page(tmp_path, browser)
    labels = [b for b in boxes if b[0].startswith("#")]
    assert [b[0] for b in labels] == ["#1", "#2"]
    assert all(plot["x"] <= b[1] and b[3] <= plot["x"] + plot["width"] for b in labels), labels
    assert page.problems == []


def test_report_level_labels_are_not_drawn_over_the_time_axis(tmp_path, browser):
    """The lowest level's label ("-40 dB", at the plot's bottom) was drawn below it, over the
    time axis's "0:00"; a level label is drawn only inside the plot, clear of the times."""
    page, boxes, plot = edge_page(tmp_path, browser)
    levels = [b for b in boxes if b[0].endswith(" dB")]
    times = [b for b in boxes if re.fullmatch(r"\d+:\d\d", b[0])]
    assert len(levels) >= 2 and times
    for name, left, top, right, bottom in levels:
        assert bottom <= plot["y"] + plot["height"], name
        for other in times:  # no two rectangles intersect
            assert right <= other[1] or other[3] <= left or bottom <= other[2] \
                or other[4] <= top, (name, other[0])
    assert page.problems == []


def test_report_names_the_level_at_the_peak_a_level_not_the_clips_loudness(tmp_path, browser):
    """The column of each highlight's level at its peak (the recording's, in dBFS) was headed
    'loudness': beside clips normalised by --loudness -14 (LUFS) it read as theirs. It is
    headed 'peak level' and its title says what it is; the time beside it is 'peak at'."""
    result = six_hours(tmp_path)
    page = report_page(result, browser, tmp_path)
    heads = page.page.locator("#rows thead th").all_inner_texts()
    cells = page.page.locator("#rows tbody tr").first.locator("td").all_inner_texts()
    assert "loudness" not in heads
    level = heads.index("peak level")
    assert cells[level] == "-12.0 dB" and cells[heads.index("peak at")] == "5:00"
    title = page.page.locator("#rows thead th").nth(level).get_attribute("title")
    assert "dBFS" in title and "--loudness" in title
    assert page.problems == []


def test_report_of_a_level_that_is_no_number_says_none(tmp_path, browser):
    """A highlight whose peak_db is NaN or -inf (null in the page's data) was marked in the
    plot with the tooltip '#1 1:40 · null dB · held'; it leaves the level out, and the
    table's cell says '–'."""
    page, _, _ = edge_page(tmp_path, browser, peak_db=float("nan"))
    tips = page.page.evaluate(
        "[...document.querySelectorAll('#detail rect.mark title')].map(t => t.textContent)")
    assert tips == ["#1 1:40 · held", "#2 9:59 · held"]
    heads = page.page.locator("#rows thead th").all_inner_texts()
    cells = page.page.locator("#rows tbody tr").first.locator("td").all_inner_texts()
    assert cells[heads.index("peak level")] == "–"
    assert page.problems == []


def test_report_shows_every_time_as_players_do(tmp_path, browser):
    """Peak times read '0:01:40' (index.json's H:MM:SS) beside windows '1:20 – 1:50', the
    plot's axis and the length in the heading (a player's m:ss): the peak time, its mark's
    tooltip and a clip's label read '1:40' too."""
    page, boxes, _ = edge_page(tmp_path, browser)
    heads = page.page.locator("#rows thead th").all_inner_texts()
    cells = page.page.locator("#rows tbody tr").first.locator("td").all_inner_texts()
    assert cells[heads.index("peak at")] == "1:40"
    assert cells[heads.index("window")] == "1:20 – 1:50"
    tip = page.page.locator("#detail rect.mark title").first.text_content()
    assert tip.startswith("#1 1:40 · ")
    assert "10:00 · 2 highlights" in page.page.inner_text("#meta")
    assert not re.search(r"\b0:\d\d:\d\d\b", page.page.inner_text("body") + tip)
    assert page.problems == []


def obs_report(tmp_path: Path, browser, track: int | str, count: int = 2) -> str:
    """The meta line of the report of a run on ``track`` of a recording of ``count`` audio
    tracks (OBS's: 1 "Mix", 2 "Mic")."""
    tracks = tuple(AudioTrack(n, "aac", 2, 48000, title=t)
                   for n, t in list(enumerate(("Mix", "Mic"), 1))[:count])
    media = MediaInfo(str(tmp_path / "obs.mkv"), 60.0, 48000, 2, has_video=True, tracks=tracks)
    result = AnalysisResult(media, (), (), np.full(600, -30.0, dtype=np.float32), 0.1,
                            Options(audio_track=track), Stage("pyav"),
                            Stage("rms-streaming"), Stage("standout"), tmp_path)
    page = report_page(result, browser, tmp_path)
    assert page.problems == []
    return page.page.inner_text("#meta")


def test_report_says_which_audio_track_it_analysed(tmp_path, browser):
    """The report of an OBS recording's --audio-track 2 (its microphone) looked like that of
    its mix: its meta line names the track analysed where the file has more than one."""
    assert 'audio track 2 "Mic"' in obs_report(tmp_path, browser, 2)
    assert 'audio track 1 "Mix"' in obs_report(tmp_path, browser, 1)
    assert "all 2 audio tracks mixed" in obs_report(tmp_path, browser, "all")
    assert "track" not in obs_report(tmp_path, browser, 1, count=1)


def test_report_of_audio_only_has_no_empty_thumbnail_column(tmp_path, browser):
    """The report of an audio-only recording had a 'thumbnail' column with nothing in it:
    without a thumbnail in any row, there is no such column, and each row has a cell per
    heading."""
    page, _, _ = edge_page(tmp_path, browser)
    heads = page.page.locator("#rows thead th").all_inner_texts()
    assert "thumbnail" not in heads and heads[:2] == ["#", "clip"]
    widths = page.page.evaluate(
        "[...document.querySelectorAll('#rows tbody tr')].map(tr => tr.cells.length)")
    assert widths == [len(heads)] * 2
    assert page.problems == []


def test_report_audio_players_have_no_black_box_around_them(wav, tmp_path, browser):
    """An audio-only report's players were drawn on a black box, its square corners showing
    round Chromium's pill-shaped player: an audio player has no background of its own (a
    video's black bars stay)."""
    m0core.analyze(wav, tmp_path, workers=2)
    page = Page(browser, (tmp_path / "report.html").as_uri())
    colours = page.page.evaluate("[...document.querySelectorAll('#rows audio')]"
                                 ".map(a => getComputedStyle(a).backgroundColor)")
    assert colours and set(colours) == {"rgba(0, 0, 0, 0)"}, colours
    assert page.problems == []


def test_report_says_where_a_copied_clip_starts_when_not_at_its_window(tmp_path, browser):
    """A copied clip starts with the keyframe before its window: the window's cell says where
    the clip starts in the recording ('clip from 1:41') when that is not the window's start."""
    result = six_hours(tmp_path)
    first, second = result.highlights[:2]
    clips = (ClipResult(first, str(tmp_path / "01.mp4"), True, start=first.start - 1.1),
             ClipResult(second, str(tmp_path / "02.mp4"), True, start=second.start))
    result = replace(result, clips=clips)
    page = report_page(result, browser, tmp_path)
    heads = page.page.locator("#rows thead th").all_inner_texts()
    rows = page.page.locator("#rows tbody tr")
    cells = [rows.nth(i).locator("td").nth(heads.index("window")).inner_text()
             for i in range(3)]
    assert cells[0].splitlines() == ["4:40 – 5:10", "clip from 4:38"]  # window from 280 s
    assert "clip from" not in cells[1] and "clip from" not in cells[2]
    assert page.problems == []


@pytest.mark.slow
def test_report_names_the_selectors_line_for_what_it_is(vod, tmp_path, browser):
    """The plot's legend called standout's line 'threshold', though it is the running level
    plus its margin (a moment is judged by the bed around it): the selector names its line,
    the same when the selection comes from the cache; a --threshold line is '--threshold'."""
    legends = []
    # the second run selects on the cached curve and keeps its selection, the third replays it
    for run, kwargs in enumerate([{}, {}, {}, {"selector": "adaptive"},
                                  {"selector": "top", "threshold": -30.0}]):
        out = tmp_path / str(run)
        result = m0core.analyze(vod, out, clips=False, **kwargs)
        page = Page(browser, (out / "report.html").as_uri())
        legends.append(page.page.locator("#limit-legend").inner_text().strip())
        assert page.problems == []
    assert legends == ["running level + 10 dB"] * 3 + ["adaptive threshold", "threshold"]
    assert result.line.label == "threshold"


def test_the_report_says_what_the_run_warned_of(tmp_path, browser):
    """A recording that looks cut short was said on stderr only: the report, read later by
    whoever reviews the clips, shows each warning of the run under its title."""
    warned = "stream.mp4: looks cut short: its audio ends at 35.2 s of the 44.0 s it declares"
    result = replace(six_hours(tmp_path), warnings=(warned,))
    page = report_page(result, browser, tmp_path)
    assert page.page.inner_text("#warnings") == "⚠ " + warned
    (tmp_path / "plain").mkdir()
    plain = report_page(six_hours(tmp_path / "plain"), browser, tmp_path / "plain")
    assert not plain.page.is_visible("#warnings") and plain.count("#warnings li") == 0
    assert page.problems == plain.problems == []


def test_report_of_many_highlights_loads_the_thumbnails_in_view_only(tmp_path, browser):
    """A report of 120 highlights read its 120 thumbnails when opened: each image had its
    src before it was made lazy, and each clip's player had the thumbnail as its poster, which
    is read at once. The rows near the view read theirs; a player gets its poster once its
    row's thumbnail has loaded."""
    result = six_hours(tmp_path)
    many = [Highlight(t - 10, t + 10, t, -12.0, 20.0, "burst", i)
            for i, t in enumerate(np.linspace(60, 6 * 3600.0 - 60, 120), 1)]
    (tmp_path / "thumbs").mkdir()
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90", "-frames:v", "1",
               str(tmp_path / "thumbs" / "001.jpg"))
    thumbs = {}
    for h in many:  # one file each, as the writer makes them
        thumbs[h.index] = tmp_path / "thumbs" / f"{h.index:03d}.jpg"
        if h.index > 1:
            thumbs[h.index].write_bytes(thumbs[1].read_bytes())
    result = replace(result, highlights=tuple(many),
                     clips=tuple(ClipResult(h, str(tmp_path / f"{h.index:03d}.mp4"), True)
                                 for h in many))
    (tmp_path / "report.html").write_text(render(report_data(result, tmp_path, thumbs)),
                                          encoding="utf-8")
    page = Page(browser, (tmp_path / "report.html").as_uri())
    p = page.page
    wanted = []
    p.on("request", lambda request: "/thumbs/" in request.url and wanted.append(request.url))
    p.reload()
    p.wait_for_load_state("load")
    p.wait_for_timeout(300)
    assert 0 < len(wanted) <= 20, f"{len(wanted)} thumbnails read for the first rows"
    posters = "[...document.querySelectorAll('#rows video')].map(v => v.hasAttribute('poster'))"
    assert p.evaluate(posters)[0] and not p.evaluate(posters)[-1]
    p.locator("#rows tbody tr").last.scroll_into_view_if_needed()
    p.wait_for_function(
        "document.querySelector('#rows tbody tr:last-child video').hasAttribute('poster')")
    assert page.problems == []


def test_report_fits_a_phone(tmp_path, browser):
    """At a phone's width (390 px) the report was a page wider than the screen (the table of
    highlights, with its players and thumbnails): the page scrolled sideways, the plots and
    the title with it. The table scrolls in its panel; the page and its buttons fit."""
    result = six_hours(tmp_path)
    clips = tuple(ClipResult(h, str(tmp_path / f"{h.index:02d}.mp4"), True)
                  for h in result.highlights)
    page = report_page(replace(result, clips=clips), browser, tmp_path)
    p = page.page
    p.set_viewport_size({"width": 390, "height": 844})
    scrolled, shown = p.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scrolled <= shown, f"the page is {scrolled} px wide in a {shown} px window"
    for button in ("#zoom-in", "#zoom-out", "#zoom-all"):
        box = p.locator(button).bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= shown, button
    p.locator("#rows .jump").nth(3).click()  # the table's times are still there to press
    assert p.locator("#rows tr.on").get_attribute("data-index") == "4"
    assert page.problems == []


def test_report_zoom_buttons_say_what_they_do_to_a_screen_reader(tmp_path, browser):
    """The plot's zoom buttons were read '+', '−' and 'all' (their titles are no name): they
    are 'Zoom in', 'Zoom out' and 'Show all of the file'."""
    page = report_page(six_hours(tmp_path), browser, tmp_path)
    names = page.accessible("button")
    assert names[:3] == ["Zoom in", "Zoom out", "Show all of the file"], names[:4]
    assert page.problems == []
