"""``m0 gui``: the HTTP rules (token, confinement, uploads, settings) with Starlette's client,
and the whole app in a real headless Chromium against a real server process.

Screenshots (gui-*.png) go to pytest's temporary folder and are copied to /tmp/m0-gui-shots/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Page, run_m0
from reliability.helpers import SLOW

from m0core.batch.ledger import Ledger
from m0core.testing import run_ffmpeg

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from m0core.cli.gui.app import create_app  # noqa: E402

TOKEN = "t0ken-for-tests"
SHOTS = Path("/tmp/m0-gui-shots")


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(root, out, outside)``: a browse root with a video, its output folder, a folder
    beside the root with a video the app must never show, and links from inside to it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "a.mp4").write_bytes(b"not really a video")
    (root / "notes.txt").write_text("not media")
    (outside / "secret.mp4").write_bytes(b"secret")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "linked.mp4").symlink_to(outside / "secret.mp4")
    return root, root / "m0-out", outside


@pytest.fixture
def client(folders) -> Iterator[TestClient]:
    root, out, _ = folders
    app = create_app(root, out, TOKEN, max_upload=1000)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def test_every_request_needs_the_token(client):
    assert client.get(f"/{TOKEN}/api/config").status_code == 200
    assert client.get(f"/{TOKEN}/").status_code == 200
    for path in ("/", "/api/config", f"/{TOKEN}x/api/config", f"/x{TOKEN}/api/config",
                 "/static/app.js", f"/{TOKEN[:-1]}/"):
        response = client.get(path)
        assert response.status_code == 403, path
    assert client.post("/api/start", json={}).status_code == 403
    assert client.put("/api/upload?name=a.mp4", content=b"x").status_code == 403
    # another Host (a DNS-rebinding page) is refused even with the token
    assert client.get(f"/{TOKEN}/api/config", headers={"host": "evil.example"}).status_code == 400


def test_the_jobs_list_shows_each_files_latest_job(client, folders):
    """A file run twice with other settings listed both jobs, the first one's report link
    leading to the second run's report (both write into the file's one folder): the list
    shows the job the latest batch asked for, as ``m0 batch --status`` does."""
    from m0core.batch.ledger import Identity, Ledger
    from m0core.batch.runner import ledger_path

    root, out, _ = folders
    out.mkdir()
    video = root / "sub" / "a.mp4"
    with Ledger(ledger_path(out)) as ledger:
        for options, found in (("first", 3), ("second", 5)):
            key = ledger.add(Identity.of(video, options), str(out / "a_highlights")).key
            ledger.start(key)
            ledger.finish(key, {"status": "completed", "finished": time.time(), "seconds": 1.0,
                                "highlights": found, "clips": found, "outputs": []})
    jobs = client.get(f"/{TOKEN}/api/jobs").json()["jobs"]
    assert [(j["path"], j["highlights"]) for j in jobs] == [(str(video), 5)]


def test_a_job_shows_only_what_it_made(wav, tmp_path):
    """A file run with 30 s clips, then 10 s clips, then started again with 30 s clips and
    cancelled before it ran: its result (the 30 s job, cancelled) showed the clips, the
    report and the JSON files on disk, which the 10 s run made. It shows none."""
    from m0core.batch.runner import BatchJob, BatchProcessor, ledger_path

    root, out = tmp_path / "videos", tmp_path / "out"
    root.mkdir()
    video = shutil.copy(wav, root / "talk.wav")

    def run(clip_length: float, stop: threading.Event | None = None) -> None:
        job = BatchJob(video, out / "talk_highlights", clip_length=clip_length)
        BatchProcessor(1, ledger=ledger_path(out)).process_batch([job], stop=stop)

    run(30.0)
    run(10.0)
    stopped = threading.Event()
    stopped.set()  # Cancel at once: the job is recorded, never started
    with pytest.raises(KeyboardInterrupt):
        run(30.0, stopped)
    assert sorted(p.name for p in (out / "talk_highlights").glob("*.wav"))  # the 10 s clips
    with TestClient(create_app(root, out, TOKEN, max_upload=1000),
                    base_url="http://127.0.0.1") as client:
        [job] = client.get(f"/{TOKEN}/api/jobs").json()["jobs"]
    assert job["status"] == "cancelled"
    assert (job["clip_files"], job["files"], job["report"]) == ([], [], None)


def test_a_job_that_failed_and_waits_to_run_again_is_queued(tmp_path):
    """A file that failed, started again behind a long one, was 'queued' in the progress and
    'failed' (its last run) in the results until its turn came: it is queued in both."""
    root, out = tmp_path / "videos", tmp_path / "out"
    root.mkdir()
    (root / "broken.mp4").write_bytes(b"not a video")
    run_ffmpeg("-f", "lavfi", "-i",  # 30 min: the onset analyzer needs many seconds for it
               "anoisesrc=color=pink:amplitude=0.05:sample_rate=8000:duration=1800",
               str(root / "long.wav"))
    app = create_app(root, out, TOKEN, max_upload=1000)
    runner = app.state.runner

    def start(*paths: str) -> None:
        answer = client.post(f"/{TOKEN}/api/start",
                             json={"paths": list(paths), "settings": {"analyzer": "onset"}})
        assert answer.status_code == 200, answer.text

    def until(what: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 60
        while not what():
            assert time.monotonic() < deadline
            time.sleep(0.1)

    def statuses() -> dict[str, str]:
        return {j["name"]: j["status"] for j in client.get(f"/{TOKEN}/api/jobs").json()["jobs"]}

    with TestClient(app, base_url="http://127.0.0.1") as client:
        start("broken.mp4")
        until(lambda: not runner.busy)
        assert statuses() == {"broken.mp4": "failed"}
        start("long.wav", "broken.mp4")
        until(lambda: any(j["status"] == "running" for j in runner.snapshot()["jobs"]))
        assert [j["status"] for j in runner.snapshot()["jobs"]] == ["running", "queued"]
        assert statuses() == {"long.wav": "running", "broken.mp4": "queued"}
        client.post(f"/{TOKEN}/api/cancel")
        until(lambda: not runner.busy)
        assert statuses() == {"long.wav": "interrupted", "broken.mp4": "failed"}


def finished_jobs(out: Path, videos: list[Path], warned: Path | None = None) -> None:
    """A ledger in ``out`` with a completed job of each of ``videos``, as a batch leaves it;
    the one of ``warned`` warned that its recording looks cut short."""
    from m0core.batch.ledger import Identity, Ledger
    from m0core.batch.runner import ledger_path

    out.mkdir(exist_ok=True)
    with Ledger(ledger_path(out)) as ledger:
        for video in videos:
            key = ledger.add(Identity.of(video, "{}"), str(out / f"{video.stem}_highlights")).key
            ledger.start(key)
            ledger.finish(key, {"status": "completed", "finished": time.time(), "seconds": 1.0,
                                "highlights": 2, "clips": 2, "outputs": [],
                                "warnings": [f"{video}: {CUT_SHORT}"] if video == warned
                                else []})


#: A job's warning of a recording cut short, as m0 analyze words it (after the file's path).
CUT_SHORT = ("looks cut short: its audio ends at 40.0 s of the 60.0 s it declares "
             "(analysed up to there)")


def test_the_jobs_list_says_what_a_job_warned_of(client, folders):
    """A batch's job warned that its recording looks cut short (m0 batch and its --status say
    so): api/jobs had no word of it, so the page showed the job as a whole recording's. Each
    job gives its warnings, beside its name as its error is."""
    root, out, _ = folders
    videos = [root / "sub" / "a.mp4", root / "b.mp4"]
    videos[1].write_bytes(b"not really a video either")
    finished_jobs(out, videos, warned=videos[1])
    jobs = client.get(f"/{TOKEN}/api/jobs").json()["jobs"]
    assert sorted((j["name"], j["warnings"]) for j in jobs) == [
        ("b.mp4", [CUT_SHORT]), ("sub/a.mp4", [])]


def test_a_suggestion_says_a_recording_looks_cut_short(client, folders, wav):
    """*Suggest* on a recording cut short (a copy that stopped) offered thresholds from its
    first 40 s with no word of it, where m0 reference warns: api/reference gives its warnings,
    the file named as the page names it."""
    root, _, _ = folders
    (root / "sub" / "cut.wav").write_bytes(wav.read_bytes()[:wav.stat().st_size * 2 // 3])
    response = client.post(f"/{TOKEN}/api/reference", json={"paths": ["sub/cut.wav"]})
    assert response.status_code == 200, response.text
    [warning] = response.json()["warnings"]
    assert warning.startswith("sub/cut.wav: looks cut short: its audio ends at 40."), warning


def change_and_delete(kept: Path, changed: Path, gone: Path) -> None:
    """After their jobs: ``changed`` rewritten (another size), ``gone`` deleted."""
    changed.write_bytes(changed.read_bytes() + b" and more")
    gone.unlink()
    assert kept.is_file()


def test_the_jobs_list_says_which_inputs_are_gone_or_changed_since(client, folders):
    """A VOD deleted once cut (or rewritten) after its job was listed as completed like the
    others; each job says where its input is now, as ``m0 batch --status --json`` does."""
    root, out, _ = folders
    videos = [root / "sub" / "a.mp4", root / "b.mp4", root / "c.mp4"]
    for video in videos[1:]:
        video.write_bytes(b"not really a video either")
    finished_jobs(out, videos)
    change_and_delete(*videos)
    jobs = client.get(f"/{TOKEN}/api/jobs").json()["jobs"]
    assert sorted((j["name"], j["status"], j["input"]) for j in jobs) == [
        ("b.mp4", "completed", "changed"), ("c.mp4", "completed", "gone"),
        ("sub/a.mp4", "completed", "there")]


def test_the_file_browser_stays_in_the_root(client, folders):
    root, out, outside = folders
    listed = client.get(f"/{TOKEN}/api/browse").json()
    assert listed == {"path": "", "parent": None, "dirs": ["sub"], "files": []}
    listed = client.get(f"/{TOKEN}/api/browse", params={"path": "sub"}).json()
    assert listed["files"] == [{"name": "a.mp4", "size": 18}] and listed["parent"] == ""
    for bad in ("..", "../outside", "sub/../..", str(outside), "/etc", "escape", "escape/..",
                "/outside", "sub/../../outside"):
        response = client.get(f"/{TOKEN}/api/browse", params={"path": bad})
        assert response.status_code == 403, bad
        assert "outside the folder" in response.json()["error"]
    for bad in ("../outside/secret.mp4", str(outside / "secret.mp4"), "linked.mp4",
                "escape/secret.mp4"):
        response = client.post(f"/{TOKEN}/api/start", json={"paths": [bad], "settings": {}})
        assert response.status_code == 403, bad
    for bad in ("%2e%2e/outside/secret.mp4", "..%2f..%2foutside%2fsecret.mp4",
                "%2Fetc%2Fpasswd"):
        assert client.get(f"/{TOKEN}/out/{bad}").status_code in (403, 404), bad
    assert not out.joinpath("m0-batch.sqlite").exists()


def test_the_file_browser_leaves_out_m0s_own_outputs(tmp_path):
    """With ``--out`` the root folder, the browser listed ``uploads/`` and the jobs' folders
    (``stream_highlights/``), clips included, as videos to analyse. It lists the user's
    files and folders only (a folder of theirs named like a job's too)."""
    root = tmp_path / "videos"
    (root / "day1").mkdir(parents=True)
    (root / "old_highlights").mkdir()  # the user's, no job's
    (root / "stream.mp4").write_bytes(b"not really a video")
    finished_jobs(root, [root / "stream.mp4"])
    (root / "stream_highlights").mkdir()
    (root / "stream_highlights" / "01_0h00m12s.mp4").write_bytes(b"a clip")
    app = create_app(root, root, TOKEN, max_upload=1000)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.put(f"/{TOKEN}/api/upload", params={"name": "up.mp4"},
                          content=b"v").status_code == 200
        listed = client.get(f"/{TOKEN}/api/browse").json()
    assert (listed["dirs"], listed["files"]) == (["day1", "old_highlights"],
                                                 [{"name": "stream.mp4", "size": 18}])


def test_uploads_are_limited_and_atomic(client, folders):
    _, out, _ = folders
    uploads = out / "uploads"
    ok = client.put(f"/{TOKEN}/api/upload", params={"name": "../../clip.mp4"}, content=b"v" * 900)
    assert ok.status_code == 200 and ok.json() == {"upload": "clip.mp4", "size": 900,
                                                   "name": "uploads/clip.mp4"}
    assert (uploads / "clip.mp4").read_bytes() == b"v" * 900
    big = client.put(f"/{TOKEN}/api/upload", params={"name": "big.mp4"}, content=b"v" * 1001)
    assert big.status_code == 413 and "limit" in big.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it writes
        for _ in range(5):
            yield b"v" * 300

    big = client.put(f"/{TOKEN}/api/upload", params={"name": "big.mp4"}, content=chunks())
    assert big.status_code == 413
    bad = client.put(f"/{TOKEN}/api/upload", params={"name": "run.sh"}, content=b"#!")
    assert bad.status_code == 400 and "upload a media file" in bad.json()["error"]
    # an empty file (a recording that failed) is refused at once, not kept to fail its job
    empty = client.put(f"/{TOKEN}/api/upload", params={"name": "empty.mp4"}, content=b"")
    assert empty.status_code == 400
    assert empty.json()["error"] == "the file is empty (0 bytes): nothing to upload"
    assert sorted(p.name for p in uploads.iterdir()) == ["clip.mp4"]  # no temp file left


@pytest.mark.parametrize(("body", "message"), [
    ({"paths": ["sub/a.mp4"], "settings": {"threshold": "loud"}},
     "threshold must be a number, not 'loud'"),
    ({"paths": ["sub/a.mp4"], "settings": {"analyzer": "nope"}},
     'unknown analyzer "nope" (available: '),
    ({"paths": ["sub/a.mp4"], "settings": {"streaming": False, "analyzer": "onset"}},
     "--no-streaming selects the rms-legacy analyzer"),
    ({"paths": ["sub/a.mp4"], "settings": {"workers": 0}}, "workers must be a whole number"),
    ({"paths": ["sub/a.mp4"], "settings": {"audio_track": "mic"}},
     "audio_track must be a track number from 1 or 'all', not 'mic'"),
    ({"paths": ["sub/a.mp4"], "settings": {"aspect": "9x"}}, "aspect must be W:H"),
    ({"paths": ["sub/a.mp4"], "settings": {"loudness": 5}}, "loudness must be between -70"),
    ({"paths": ["sub/a.mp4"], "settings": {"fit": "stretch"}}, "fit must be one of blur"),
    ({"paths": ["sub/a.mp4"], "settings": {"sensitivity": 3}},
     "sensitivity must be between 0 and 1"),
    ({"paths": ["sub/a.mp4"], "settings": {"max_clips": 0}}, "max_clips must be"),
    ({"paths": [], "settings": {}}, "choose at least one video"),
    # a setting m0 does not know (a misspelt one, an API client's) ran without it
    ({"paths": ["sub/a.mp4"], "settings": {"max_clip": 3}}, "unknown setting 'max_clip' (known: "),
    ({"uploads": ["missing.mp4"], "settings": {}}, "missing.mp4: no such file"),
])
def test_bad_settings_get_one_clear_line(client, body, message):
    response = client.post(f"/{TOKEN}/api/start", json=body)
    assert response.status_code in (400, 403)
    error = response.json()["error"]
    assert message in error and "\n" not in error


def test_without_the_extra_one_line_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['uvicorn'] = None; from m0core.cli.main import main; "
            "main(['gui', '--no-browser'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "Error: m0 gui needs the web extra: pip install 'm0-clipper[gui]'"]
    proc = run_m0("gui", "--no-browser", "--max-upload", "lots", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip() == \
        "Error: 'lots': not a size (e.g. 500M, 8G)"


# -- the whole app in Chromium --------------------------------------------------------------

def shot(page: Page, shots: Path, name: str) -> None:
    page.page.screenshot(path=str(shots / name), full_page=True)
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(shots / name, SHOTS / name)


def open_with(browser, serve, tmp_path: Path, files: dict[str, Path | bytes],
              chosen: tuple[str, ...] = ()) -> Page:
    """The app served on a root folder holding ``files`` (name: a file to copy there, or its
    bytes), with the files named in ``chosen`` ticked; the output folder is ``tmp_path/out``."""
    root = tmp_path / "videos"
    root.mkdir(parents=True, exist_ok=True)
    for name, what in files.items():
        if isinstance(what, bytes):
            (root / name).write_bytes(what)
        else:
            shutil.copy(what, root / name)
    page = Page(browser, serve(root, tmp_path / "out").url)
    for name in chosen:
        page.page.check(f"input[data-file='{name}']")
    return page


@pytest.mark.slow
def test_choose_start_watch_play_and_restart(vod, tmp_path, browser, shots, serve):
    root, out = tmp_path / "videos", tmp_path / "out"
    (root / "day1").mkdir(parents=True)
    shutil.copy(vod, root / "day1" / "stream.mp4")
    server = serve(root, out)
    page = Page(browser, server.url)
    p = page.page
    p.click("#browser a[data-dir=day1]")
    p.check("input[data-file='stream.mp4']")
    p.wait_for_selector("#chosen li[data-key='root:day1/stream.mp4']")
    assert p.input_value("#sensitivity") == "0.5"  # the default: standout's own
    p.fill("#sensitivity", "0.6")
    p.click("#advanced summary")
    assert p.is_checked("#streaming")  # "Use streaming processing", on by default
    p.click("#suggest")
    p.wait_for_selector("#advice button.chip >> nth=2", timeout=60_000)
    assert "balanced" in p.inner_text("#advice")
    shot(page, shots, "gui-chosen.png")
    chip = p.locator("#advice button.chip").nth(1)
    chip.click()  # a suggested threshold is the crest selector's
    assert p.input_value("#selector") == "crest"
    assert p.input_value("#threshold") == chip.get_attribute("data-threshold")
    p.select_option("#selector", "standout")
    p.fill("#threshold", "")

    p.click("#start")
    p.wait_for_selector(".job[data-status=completed]", timeout=90_000)
    assert "2 highlights, 2 clips" in p.inner_text(".job .note")
    p.wait_for_selector("#message >> text=Done.")
    p.wait_for_selector("#results article[data-status=completed] video >> nth=1")
    assert page.count("#results video") == 2
    # the files to download, not the thumbnails the report shows (one link per highlight)
    links = p.locator("#results .links a[download]").all_inner_texts()
    assert sorted(links) == ["highlights.json", "index.json", "report.html"], links
    before, after = page.plays("#results video")
    assert after > before + 0.3
    clip = p.get_attribute("#results video", "src")
    ranged = p.request.get(server.url + clip, headers={"Range": "bytes=0-99"})
    assert ranged.status == 206 and len(ranged.body()) == 100
    p.click(".show-report")
    report = p.frame_locator("iframe.report")
    report.locator("#rows video").nth(1).wait_for()
    assert report.locator("#overview .mark").count() == 2
    assert " dB over " in report.locator("#rows td.why").nth(0).inner_text()
    # the button says what it does now, and a screen reader hears the report is shown
    assert p.inner_text(".show-report") == "Hide report"
    assert p.get_attribute(".show-report", "aria-expanded") == "true"
    shot(page, shots, "gui-results.png")
    p.click(".show-report")
    assert p.is_hidden("iframe.report") and p.inner_text(".show-report") == "Show report"
    assert p.get_attribute(".show-report", "aria-expanded") == "false"
    assert page.problems == [], "\n".join(page.problems)
    p.close()

    server.stop()  # a restart loses no finished work: the page lists the ledger
    page = Page(browser, serve(root, out).url)
    page.page.wait_for_selector("#results article[data-status=completed] video >> nth=1")
    assert page.page.inner_text("#results article strong") == "day1/stream.mp4"


@pytest.mark.slow
def test_upload_then_cancel(wav, tmp_path, browser, shots, serve, fake_dist):
    """Cancel stops the running file (interrupted) and the one queued after it, which never
    runs: it is cancelled in the progress and in the results, not pending for ever. Before,
    the results say it is queued, as the progress does. A page reloaded mid-run says a batch
    runs (its message line was empty beside a disabled Start)."""
    # 10 min read by the ``slow`` analyzer, 0.3 s a 5 s chunk: about 18 s of analysis on two
    # segments, more than this test takes from Start to Cancel, reload included (a 90-min
    # file analysed by ``onset`` did it before, at about 25 s of CPU for the upload and run)
    long = tmp_path / "long.wav"
    run_ffmpeg("-f", "lavfi", "-i",
               "anoisesrc=color=pink:amplitude=0.05:sample_rate=8000:duration=600", str(long))
    root, out = tmp_path / "videos", tmp_path / "out"
    root.mkdir()
    queued = shutil.copy(wav, tmp_path / "queued.wav")
    server = serve(root, out, env=dict(fake_dist("m0-slow", SLOW), M0_SLOW="0.3"))
    page = Page(browser, server.url)
    p = page.page
    p.wait_for_selector("#browser li.none")  # an empty root
    p.set_input_files("#upload", [str(long), queued])  # in this order: queued.wav runs second
    p.wait_for_selector("#chosen li[data-key='uploads:queued.wav']", timeout=60_000)
    assert (out / "uploads" / "long.wav").stat().st_size == long.stat().st_size
    p.click("#advanced summary")
    p.select_option("#analyzer", "slow")
    p.click("#start")
    p.wait_for_selector(".job[data-status=running] >> text=ETA", timeout=60_000)
    # the results say of the file to come what the progress says, not the ledger's "pending"
    p.wait_for_selector("#results article[data-name='uploads/queued.wav'][data-status=queued]")
    assert p.inner_text(".job[data-name='uploads/queued.wav'] .note") == "queued"
    shot(page, shots, "gui-progress.png")
    assert page.problems == [], "\n".join(page.problems)
    p.reload()  # mid-run: Start is off, and the page says why (its message line was empty)
    p.wait_for_selector(".job[data-status=running]")
    p.wait_for_selector("#message >> text=A batch of 2 files is running: Start is back when "
                        "it ends; Cancel stops it.")
    assert p.is_disabled("#start") and p.get_attribute("#message", "class") != "bad"
    page.problems.clear()  # what the reload cut: the event stream, a list being fetched
    p.click("#cancel")
    p.wait_for_selector(".job[data-status=interrupted]", timeout=60_000)
    p.wait_for_selector("#results article[data-status=interrupted]")
    assert "the batch was stopped" in p.inner_text("#results article[data-status=interrupted]")
    p.wait_for_selector(".job[data-name='uploads/queued.wav'][data-status=cancelled]")
    p.wait_for_selector("#results article[data-name='uploads/queued.wav'][data-status=cancelled]")
    with Ledger(out / "m0-batch.sqlite") as ledger:
        [never] = [row for row in ledger.rows() if row.path.endswith("queued.wav")]
    assert never.attempts == 0 and not (out / "queued_highlights").exists()
    deadline = time.monotonic() + 15
    while server.leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.leftovers() == []
    assert not p.is_disabled("#start") and p.is_disabled("#cancel")
    assert p.inner_text("#message").startswith("Cancelled")
    shot(page, shots, "gui-cancelled.png")
    assert page.problems == []


def test_max_clips_keeps_the_best(vod, tmp_path, browser, serve):
    """*Max clips* is ``--max-clips``: 1 keeps the best of the vod's two highlights."""
    page = open_with(browser, serve, tmp_path, {"stream.mp4": vod}, ("stream.mp4",))
    p = page.page
    p.fill("#max-clips", "1")
    p.click("#start")
    p.wait_for_selector(".job[data-status=completed]", timeout=90_000)
    p.wait_for_selector("#results article[data-status=completed] video")
    assert page.count("#results video") == 1
    assert page.unnamed_players() == 0  # a screen reader names the clip
    assert p.inner_text(".job .note") == "completed · 1 highlight, 1 clip"
    assert p.inner_text("#results article .head").startswith("stream.mp4\ncompleted\n"
                                                             "1 highlight · 1 clip · ")
    doc = json.loads((tmp_path / "out" / "stream_highlights" / "highlights.json").read_text())
    assert len(doc["highlights"]) == 1  # of 2 without it
    assert page.problems == [], "\n".join(page.problems)


@pytest.mark.slow
def test_the_progress_says_what_a_job_warned_of_as_its_result_does(wav, tmp_path, browser,
                                                                    serve):
    """A recording cut short (a copy that stopped) ran, and the progress said 'completed ·
    2 highlights, 2 clips' as of a whole recording's, where its result says 'Warning: looks
    cut short: …'; started again, skipped as done, the same. The progress says each warning
    below the file's line, as the result does, and the clips as the result counts them."""
    cut = wav.read_bytes()[:wav.stat().st_size * 2 // 3]
    page = open_with(browser, serve, tmp_path, {"cut.wav": cut}, ("cut.wav",))
    p = page.page
    for status in ("completed", "skipped"):
        p.click("#start")
        p.wait_for_selector(f".job[data-status={status}]", timeout=90_000)
        p.wait_for_selector("#message >> text=Done.")
        card = p.get_by_role("article", name="cut.wav")
        card.locator(".warn").first.wait_for()
        warned = card.locator(".warn").all_inner_texts()
        assert warned and warned[0].startswith("Warning: looks cut short: its audio ends at 40."), \
            warned
        assert p.locator(".job .warn").all_inner_texts() == warned, status
        clips = re.search(r"· (\d+ clips?) ·", card.locator(".head").inner_text())
        assert clips and p.inner_text(".job .note").endswith(f", {clips[1]}"), status
    assert page.problems == [], "\n".join(page.problems)


def test_a_double_click_on_start_starts_one_batch_without_an_error(wav, tmp_path, browser,
                                                                  serve):
    page = open_with(browser, serve, tmp_path, {"talk.wav": wav}, ("talk.wav",))
    p = page.page
    p.dblclick("#start")
    p.wait_for_selector(".job[data-status=completed]", timeout=90_000)
    p.wait_for_selector("#message >> text=Done.")
    assert page.problems == [], "\n".join(page.problems)  # no second start refused (400)


def test_done_stays_said_when_the_progress_ends_before_start_is_answered(wav, tmp_path,
                                                                        browser, serve):
    """A batch of files already done ends at once: the progress can say "Done." before the
    start request's answer reaches the page. The page holds that answer here until the
    progress has ended the batch; "Done." stays (the answer once said "Started." over it,
    and as the progress says a change once, "Done." never came back)."""
    page = open_with(browser, serve, tmp_path, {"talk.wav": wav}, ("talk.wav",))
    p = page.page
    p.click("#start")
    p.wait_for_selector(".job[data-status=completed]", timeout=90_000)
    p.wait_for_selector("#message >> text=Done.")

    said_first = []

    def answer_late(route) -> None:
        answer = route.fetch()  # the batch starts now; the page waits for the answer
        deadline = time.monotonic() + 30.0
        while p.inner_text("#message") != "Done." and time.monotonic() < deadline:
            p.wait_for_timeout(100)
        said_first.append(p.inner_text("#message") == "Done.")
        route.fulfill(response=answer)

    p.route("**/api/start", answer_late)
    p.click("#start")
    p.wait_for_selector(".job[data-status=skipped]", timeout=30_000)
    p.wait_for_function("!document.querySelector('#start').disabled", timeout=30_000)
    p.wait_for_timeout(1500)  # the answer has come, and the page has acted on it
    assert said_first == [True]  # the progress spoke before the answer came
    assert p.inner_text("#message") == "Done."
    assert page.problems == [], "\n".join(page.problems)


def test_the_sensitivity_slider_is_on_only_for_the_selector_it_tunes(tmp_path, browser, serve):
    """Sensitivity is standout's: with another selector the slider is disabled, not a knob
    that does nothing."""
    page = open_with(browser, serve, tmp_path, {})
    p = page.page
    p.wait_for_selector("#browser li.none")
    assert p.input_value("#selector") == "standout" and p.is_enabled("#sensitivity")
    for selector in ("crest", "adaptive", "top"):
        p.select_option("#selector", selector)
        assert p.is_disabled("#sensitivity"), selector
    p.select_option("#selector", "standout")
    assert p.is_enabled("#sensitivity")
    assert page.problems == [], "\n".join(page.problems)


def test_a_screen_reader_names_each_progress_bar_and_reads_the_messages(tmp_path, browser,
                                                                         serve):
    page = open_with(browser, serve, tmp_path, {"broken.mp4": b"not a video"}, ("broken.mp4",))
    p = page.page
    p.click("#start")
    p.wait_for_selector(".job[data-status=failed]", timeout=60_000)
    p.wait_for_selector("#message >> text=Done.")
    assert page.accessible("progressbar") == ["broken.mp4"]
    # a live region: read out when it changes
    assert p.get_by_role("status").filter(has_text="Done.").count() == 1


@pytest.mark.slow
def test_a_refused_start_keeps_its_error_on_the_page(tmp_path, browser, serve):
    """After a batch, a start with a bad setting says why, and goes on saying it: the
    progress the server re-sends every second does not put "Done." over it. It names the
    setting by its label on the page ('Clip length (s)'), not as the code does
    ('clip_length')."""
    page = open_with(browser, serve, tmp_path, {"broken.mp4": b"not a video"}, ("broken.mp4",))
    p = page.page
    p.click("#start")
    p.wait_for_selector("#message >> text=Done.", timeout=60_000)
    p.fill("#clip-length", "")
    p.click("#start")
    p.wait_for_selector("#message.bad >> text=Clip length (s) must be")
    p.evaluate("""() => new Promise(done => {  // two more seconds of the server's progress
        let n = 0;
        const events = new EventSource("api/events");
        events.onmessage = () => { if (++n === 3) { events.close(); done(); } };
    })""")
    assert p.inner_text("#message").startswith("Clip length (s) must be")


@pytest.mark.slow
def test_another_batch_leaves_a_shown_report_and_a_playing_clip_alone(wav, tmp_path, browser,
                                                                      serve):
    """The results list is redrawn when a job changes: the other jobs' cards stay as they
    are, an open report is not closed or reloaded and a clip that plays goes on playing."""
    page = open_with(browser, serve, tmp_path, {"talk.wav": wav, "broken.mp4": b"not a video"},
                     ("talk.wav",))
    p = page.page
    p.click("#start")
    p.wait_for_selector("#results article[data-status=completed] audio >> nth=1",
                        timeout=90_000)
    p.click(".show-report")
    p.frame_locator("iframe.report").locator("#rows audio >> nth=1").wait_for()
    p.evaluate("document.querySelector('iframe.report').contentWindow.kept = true")
    p.evaluate("""async () => {
        const m = document.querySelector('#results audio');
        m.muted = m.loop = true;  // however long the second batch takes
        await m.play();
    }""")
    p.uncheck("input[data-file='talk.wav']")
    p.check("input[data-file='broken.mp4']")
    p.click("#start")
    p.wait_for_selector("#results article[data-status=failed]", timeout=60_000)
    p.wait_for_selector("#message >> text=Done.")
    assert p.evaluate("document.querySelector('iframe.report').contentWindow.kept") is True
    assert p.is_visible("iframe.report")
    assert p.evaluate("document.querySelector('#results audio').paused") is False


def test_a_long_file_name_wraps_instead_of_widening_the_page(tmp_path, browser, serve):
    name = "2026-11-29_stream_" + "x" * 150 + ".mp4"  # no space to break at
    page = open_with(browser, serve, tmp_path, {name: b"not a video"}, (name,))
    p = page.page
    p.click("#start")
    p.wait_for_selector("#results article[data-status=failed]", timeout=60_000)
    width = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    scrolled, shown = p.evaluate(width)
    assert scrolled <= shown, f"the page is {scrolled} px wide in a {shown} px window"
    assert p.locator("#chosen li").bounding_box()["x"] + 100 < shown  # the list is in view


@pytest.mark.slow
def test_a_batch_with_a_failed_file_does_not_end_on_a_plain_done(wav, tmp_path, browser,
                                                                 serve):
    page = open_with(browser, serve, tmp_path, {"talk.wav": wav, "broken.mp4": b"not a video"},
                     ("broken.mp4", "talk.wav"))
    p = page.page
    p.click("#start")
    p.wait_for_selector("#message >> text=Done.", timeout=90_000)
    assert p.inner_text("#message") == "Done. 1 of 2 files failed: see why below."
    assert p.get_attribute("#message", "class") == "bad"


def test_files_of_one_name_in_two_folders_are_told_apart(tmp_path, browser, serve):
    """Every stream is "stream.mp4": the chosen list, the progress and the results name each
    by its path under the root (an upload by ``uploads/…``, not ``⬆ stream.mp4`` in one place
    and ``uploads/stream.mp4`` in the others), not twice the same name; and once: its error
    does not name it again by its whole path on the server."""
    root = tmp_path / "videos"
    for day in ("day1", "day2"):
        (root / day).mkdir(parents=True)
        (root / day / "stream.mp4").write_bytes(b"not a video")
    page = Page(browser, serve(root, tmp_path / "out").url)
    p = page.page
    for day in ("day1", "day2"):
        p.click(f"#browser a[data-dir={day}]")
        p.check("input[data-file='stream.mp4']")
        p.click("#crumbs a >> nth=0")
    p.set_input_files("#upload", files=[{"name": "stream.mp4", "mimeType": "video/mp4",
                                         "buffer": b"not a video either"}])
    p.wait_for_selector("#chosen li[data-key='uploads:stream.mp4']")
    names = ["day1/stream.mp4", "day2/stream.mp4", "uploads/stream.mp4"]
    chosen = [text.removesuffix(" remove") for text in p.locator("#chosen li").all_inner_texts()]
    assert sorted(chosen) == names
    assert p.inner_text("#upload-status").startswith("Uploaded uploads/stream.mp4 (")
    p.click("#start")
    p.wait_for_selector("#message >> text=Done.", timeout=60_000)
    assert sorted(p.locator(".job .name").all_inner_texts()) == names
    p.wait_for_selector("#results article >> nth=2")
    assert sorted(p.locator("#results article strong").all_inner_texts()) == names
    errors = p.locator(".job .note").all_inner_texts() + \
        p.locator("#results article .bad").all_inner_texts()
    assert len(errors) == 6 and all(text.removeprefix("failed: ").startswith(
        "not a media file m0 can read") for text in errors), errors
    assert page.problems == [], "\n".join(page.problems)


def test_a_result_whose_input_is_gone_or_changed_since_says_so(tmp_path, browser, shots,
                                                               serve):
    """The results of a batch whose VODs were deleted once cut looked like the others: the
    card of a job whose input is gone, or changed since, has a small note saying so."""
    root = tmp_path / "videos"
    root.mkdir()
    videos = [root / name for name in ("kept.mp4", "changed.mp4", "gone.mp4")]
    for video in videos:
        video.write_bytes(b"not a video")
    finished_jobs(tmp_path / "out", videos, warned=videos[0])
    change_and_delete(*videos)
    page = Page(browser, serve(root, tmp_path / "out").url)
    p = page.page
    p.wait_for_selector("#results article >> nth=2")
    notes = {name: p.locator(f"#results article[data-name='{name}'] .input-note")
             for name in ("kept.mp4", "changed.mp4", "gone.mp4")}
    assert notes["kept.mp4"].count() == 0
    assert notes["changed.mp4"].inner_text() == "input changed since"
    assert notes["gone.mp4"].inner_text() == "input gone"
    assert "deleted, moved" in notes["gone.mp4"].get_attribute("title")
    # a job's warnings on its card, read out with it (api/jobs' warnings)
    assert p.get_by_role("article", name="kept.mp4").get_by_text(
        f"Warning: {CUT_SHORT}").count() == 1
    assert "Warning" not in p.locator("#results article[data-name='gone.mp4']").inner_text()
    assert p.locator("#results article[data-name='gone.mp4'] .status").inner_text() == \
        "completed"
    shot(page, shots, "gui-input-gone.png")
    assert page.problems == [], "\n".join(page.problems)


def test_a_page_says_when_its_server_stopped_or_was_started_again(tmp_path, browser, serve):
    """The page of a stopped server, then of one started again (a new token: the old page's
    requests are refused) tells what to do, not "Failed to fetch" or "Forbidden"."""
    root, out = tmp_path / "videos", tmp_path / "out"
    root.mkdir()
    server = serve(root, out)
    page = Page(browser, server.url)
    p = page.page
    p.wait_for_selector("#browser li.none")
    assert p.inner_text("#message") == ""
    server.stop()
    p.wait_for_selector("#message.bad >> text=m0 gui has stopped", timeout=30_000)
    p.click("#start")  # nothing answers
    p.wait_for_selector("#message.bad >> text=open the URL it printed")
    port = server.url.split(":")[2].split("/")[0]
    serve(root, out, "--port", port)  # the same address, another token
    p.evaluate("document.querySelector('#message').textContent = ''")
    p.click("#start")  # refused by the new server
    p.wait_for_selector("#message.bad >> text=open the URL m0 gui printed")


@pytest.mark.slow
def test_short_form_settings_make_vertical_clips_and_a_compilation(vod, tmp_path, browser,
                                                                   shots, serve):
    import av

    page = open_with(browser, serve, tmp_path, {"stream.mp4": vod}, ("stream.mp4",))
    p = page.page
    p.fill("#clip-length", "6")
    p.click("#short-form summary")
    p.select_option("#aspect", "9:16")
    p.select_option("#fit", "pad")
    p.fill("#loudness", "-14")
    p.fill("#fade", "0.5")
    p.check("#compilation")
    shot(page, shots, "gui-short-form.png")
    p.click("#start")
    p.wait_for_selector(".job[data-status=completed]", timeout=90_000)
    p.wait_for_selector("#results article[data-status=completed] video >> nth=2")
    assert page.problems == [], "\n".join(page.problems)
    clips = sorted((tmp_path / "out" / "stream_highlights").glob("*.mp4"))
    assert [c.name for c in clips][-1] == "compilation.mp4" and len(clips) == 3
    for clip in clips:
        with av.open(str(clip)) as c:
            size = c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height
        assert size == (136, 240)


def test_a_result_says_what_its_seconds_are(tmp_path, browser, serve):
    """A completed job's card read '2 highlights · 2 clips · 1.0 s', a number of seconds
    saying nothing of what they were: it is the time the job took, and says so."""
    root = tmp_path / "videos"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"not a video")
    finished_jobs(tmp_path / "out", [root / "a.mp4"])
    page = Page(browser, serve(root, tmp_path / "out").url)
    p = page.page
    p.wait_for_selector("#results article")
    assert p.inner_text("#results article .head").endswith("2 highlights · 2 clips · took 1.0 s")
    assert page.problems == [], "\n".join(page.problems)


def test_plugin_settings_reach_the_stages_and_a_bad_one_is_refused_before_a_job(
        wav, tmp_path, browser, serve):
    """*Plugin settings* are ``-P``: one STAGE.NAME=VALUE a line, given to the stages (the GUI
    had no way to set a plugin's parameter). One a stage does not take, or not of that form,
    refuses the start with one line, and no job is made (a value a stage refuses is said when
    the stage is built, by the job)."""
    page = open_with(browser, serve, tmp_path, {"talk.wav": wav}, ("talk.wav",))
    p = page.page
    p.click("#advanced summary")
    for bad, said in (("selector.margn_db=8", 'selector "standout" does not take the option '
                                              '"margn_db": did you mean "margin_db"?'),
                      ("margin_db=8", "plugin settings: 'margin_db=8': expected STAGE.NAME=VALUE")):
        p.fill("#params", bad)
        p.click("#start")
        p.wait_for_selector(f"#message.bad >> text={said}")
        assert page.count(".job") == 0, bad
    p.fill("#params", "selector.margin_db=12\n\n  analyzer.floor_db=-70  ")
    p.click("#start")
    p.wait_for_selector(".job[data-status=completed]", timeout=90_000)
    doc = json.loads((tmp_path / "out" / "talk_highlights" / "highlights.json").read_text())
    assert doc["selector"]["params"] == {"margin_db": 12, "sensitivity": 0.5}  # the slider
    assert doc["analyzer"]["params"] == {"floor_db": -70}
    assert page.count(".job") == 1
    refusals = [x for x in page.problems if "status of 400" in x]
    assert len(refusals) == 2 and page.problems == refusals, "\n".join(page.problems)


def test_the_page_fits_a_phone(tmp_path, browser, serve):
    """At a phone's width (390 px) the page was 519 px wide: *Upload videos*, *Suggest* and
    the clip length were past the right edge and the selectors squeezed to 'star'. Every
    control is inside the window, the page scrolls down only."""
    page = open_with(browser, serve, tmp_path, {"broken.mp4": b"not a video"}, ("broken.mp4",))
    p = page.page
    p.click("#start")
    p.wait_for_selector("#results article[data-status=failed]", timeout=60_000)
    p.set_viewport_size({"width": 390, "height": 844})
    p.click("#short-form summary")
    p.click("#advanced summary")
    scrolled, shown = p.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scrolled <= shown, f"the page is {scrolled} px wide in a {shown} px window"
    outside = p.evaluate("""() => [...document.querySelectorAll(
            'input, select, textarea, button, summary, a, progress, .job .note')]
        .filter(e => { const r = e.getBoundingClientRect();
                       return r.width && (r.left < 0 || r.right > innerWidth); })
        .map(e => e.id || e.textContent.trim() || e.tagName)""")
    assert outside == [], outside
    assert page.problems == [], "\n".join(page.problems)


def test_a_screen_reader_names_the_threshold_by_its_label_alone(tmp_path, browser, serve):
    """The threshold field and its *Suggest* button share a label: a screen reader named the
    field 'Threshold (dBFS) Suggest'. It is 'Threshold (dBFS)', the button 'Suggest'. The
    sensitivity slider, named 'Sensitivity fewer more' by the words at its ends, is
    'Sensitivity'."""
    page = open_with(browser, serve, tmp_path, {})
    page.page.wait_for_selector("#browser li.none")
    fields = page.accessible("spinbutton")
    assert "Threshold (dBFS)" in fields and not any("Suggest" in f for f in fields), fields
    assert "Suggest" in page.accessible("button")
    assert page.accessible("slider") == ["Sensitivity"]
    page.page.click("text=Sensitivity")  # its label still focuses it
    assert page.page.evaluate("document.activeElement.id") == "sensitivity"
    page.page.click("text=Threshold (dBFS)")  # its label still focuses it
    assert page.page.evaluate("document.activeElement.id") == "threshold"
    assert page.problems == [], "\n".join(page.problems)


def test_the_progress_shows_each_files_whole_name(tmp_path, browser, serve):
    """The progress cut a name to its first 30 characters or so ('stream-archive-of-november-
    2…'): two files of one long folder read the same. Each name is shown whole, wrapped."""
    folder = "stream-archive-of-november-2026"
    names = [f"{folder}/day{n}.mp4" for n in (1, 2)]
    root = tmp_path / "videos"
    (root / folder).mkdir(parents=True)
    for name in names:
        (root / name).write_bytes(b"not a video")
    page = Page(browser, serve(root, tmp_path / "out").url)
    p = page.page
    p.click(f"#browser a[data-dir='{folder}']")
    for name in names:
        p.check(f"input[data-file='{Path(name).name}']")
    p.click("#start")
    p.wait_for_selector("#message >> text=Done.", timeout=60_000)
    cut = p.evaluate("""[...document.querySelectorAll('.job .name')]
        .filter(e => e.scrollWidth > e.clientWidth).map(e => e.textContent)""")
    assert cut == [], f"names cut short: {cut}"
    assert sorted(p.locator(".job .name").all_inner_texts()) == names


@pytest.mark.slow
def test_a_suggestion_that_failed_is_said_as_an_error(tmp_path, browser, serve, wav):
    """*Suggest* on a file that is not a video said why in the grey of its advice, as if it
    were one: it is said as the page's other errors are, in red; the file named as the page
    names it, not by its whole path on the server. A recording cut short is measured, its
    warning said with the advice (api/reference's warnings)."""
    cut = wav.read_bytes()[:wav.stat().st_size * 2 // 3]
    page = open_with(browser, serve, tmp_path, {"broken.mp4": b"not a video", "cut.wav": cut},
                     ("broken.mp4",))
    p = page.page
    p.click("#suggest")
    p.wait_for_selector("#advice >> text=not a media file m0 can read")
    assert p.inner_text("#advice") == ("broken.mp4: not a media file m0 can read (it is text, "
                                       "not audio or video: a web page or an error message "
                                       "saved under a media file's name?)")  # as m0 analyze
    red = "getComputedStyle(document.querySelector('#advice')).color"
    assert p.evaluate(red) == "rgb(192, 57, 43)"  # --bad, as #message's errors
    p.uncheck("input[data-file='broken.mp4']")
    p.click("#suggest")  # advice again: not red
    p.wait_for_selector("#advice >> text=Choose a video first")
    assert p.evaluate(red) != "rgb(192, 57, 43)"
    p.check("input[data-file='cut.wav']")
    p.click("#suggest")
    p.wait_for_selector("#advice button.chip >> nth=2", timeout=60_000)  # the advice, and
    warnings = p.locator("#advice .warn").all_inner_texts()  # with it its warning
    assert [w.split(" s of ")[0] for w in warnings] == [
        "Warning: cut.wav: looks cut short: its audio ends at 40.0"], p.inner_text("#advice")


def test_the_keyboard_stays_in_the_file_browser_when_it_opens_a_folder(tmp_path, browser,
                                                                        serve):
    """Enter on a folder of the file browser opened it and left the focus nowhere (the page's
    body; a screen reader said nothing): it is on the folder's first entry, and Space ticks a
    file there."""
    root = tmp_path / "videos"
    (root / "day1").mkdir(parents=True)
    (root / "day1" / "stream.mp4").write_bytes(b"not a video")
    page = Page(browser, serve(root, tmp_path / "out").url)
    p = page.page
    p.focus("#browser a[data-dir=day1]")
    p.keyboard.press("Enter")
    p.wait_for_selector("#crumbs >> text=day1")
    assert p.evaluate("document.activeElement.textContent") == "⬑ .."
    p.keyboard.press("Tab")
    p.keyboard.press("Space")
    p.wait_for_selector("#chosen li[data-key='root:day1/stream.mp4']")
    p.focus("#browser li.dir a")
    p.keyboard.press("Enter")  # back up
    p.wait_for_selector("#browser a[data-dir=day1]")
    assert p.evaluate("document.activeElement.dataset.dir") == "day1"
    assert page.problems == [], "\n".join(page.problems)


def test_the_keyboard_stays_in_the_chosen_list_when_a_file_is_removed(tmp_path, browser,
                                                                      serve):
    """Enter on a chosen file's *remove* left the focus nowhere (the page's body): it is on
    the next file's *remove*, and with none left on the list, which says it is empty."""
    page = open_with(browser, serve, tmp_path, {"a.mp4": b"not a video", "b.mp4": b"not either"},
                     ("a.mp4", "b.mp4"))
    p = page.page
    p.focus("#chosen li[data-key='root:a.mp4'] button")
    p.keyboard.press("Enter")
    p.wait_for_selector("#chosen li[data-key='root:a.mp4']", state="detached")
    assert p.evaluate("document.activeElement.closest('li')?.dataset.key") == "root:b.mp4"
    p.keyboard.press("Enter")
    p.wait_for_selector("#chosen li.none")
    assert p.evaluate("document.activeElement.id") == "chosen"
    p.wait_for_selector("input[data-file='b.mp4']:not(:checked)")  # the browser too
    assert p.evaluate("document.activeElement.id") == "chosen"
    assert page.problems == [], "\n".join(page.problems)


@pytest.mark.slow
def test_a_reload_keeps_the_users_choices_and_lists_the_jobs(wav, tmp_path, browser, serve):
    """A reload (F5, a tab the browser restored) put every setting back to its default and
    emptied the chosen list: the form shows what the user chose, and the batch that ran is
    still in the progress and the results."""
    page = open_with(browser, serve, tmp_path, {"talk.wav": wav}, ("talk.wav",))
    p = page.page
    p.fill("#sensitivity", "0.8")
    p.fill("#max-clips", "1")
    p.select_option("#cut", "accurate")
    p.click("#short-form summary")
    p.select_option("#aspect", "9:16")
    p.check("#compilation")
    p.click("#advanced summary")
    p.fill("#params", "selector.margin_db=12")
    p.uncheck("#streaming")
    chose = {field: p.input_value(field) for field in
             ("#selector", "#sensitivity", "#max-clips", "#cut", "#aspect", "#params")}
    p.click("#start")  # 9:16 of a wav: it fails at once, "has no video to reframe"
    p.wait_for_selector(".job[data-status=failed]", timeout=60_000)
    p.reload()
    p.wait_for_selector("#results article[data-name='talk.wav'][data-status=failed]")
    p.wait_for_selector(".job[data-name='talk.wav'][data-status=failed] >> text=no video")
    assert {field: p.input_value(field) for field in chose} == chose
    assert p.is_checked("#compilation") and not p.is_checked("#streaming")
    assert p.is_disabled("#analyzer")  # as the unticked streaming has it
    assert p.is_checked("input[data-file='talk.wav']")
    assert page.count("#chosen li[data-key='root:talk.wav']") == 1
    # the reload cuts the requests still going (the page's event stream; on a busy machine a
    # poll of the jobs too): those are the only requests that did not end
    assert all(problem.endswith("(net::ERR_ABORTED)") and "/api/" in problem
               for problem in page.problems), page.problems


def test_a_screen_reader_tells_which_file_each_remove_and_result_is_for(tmp_path, browser,
                                                                        serve):
    """A screen reader read the chosen list's buttons as 'remove', 'remove', and the results
    as articles of no name, each with its 'Show report', 'Open report' and files: which file
    each was for it did not say. Each *remove* is 'remove NAME', each result's article NAME."""
    page = open_with(browser, serve, tmp_path, {"a.mp4": b"not a video", "b.mp4": b"not either"},
                     ("a.mp4", "b.mp4"))
    p = page.page
    assert [b for b in page.accessible("button") if "remove" in b] == ["remove a.mp4",
                                                                       "remove b.mp4"]
    p.click("#start")
    p.wait_for_selector("#results article >> nth=1", timeout=60_000)
    assert sorted(page.accessible("article")) == ["a.mp4", "b.mp4"]


def test_an_upload_waits_for_the_page_to_be_ready(tmp_path, browser, serve):
    """A file chosen to upload before the page had its settings from the server (api/config,
    slow on a busy machine) threw 'TypeError: config is null' and was not uploaded: *Upload
    videos* is off until the page is ready."""
    page = open_with(browser, serve, tmp_path, {})
    p = page.page
    p.wait_for_selector("#browser li.none")
    held = []
    p.route("**/api/config", lambda route: held.append(route))  # answered later
    p.reload()
    while not held:
        p.wait_for_timeout(50)
    assert p.is_disabled("#upload")
    held[0].continue_()
    p.wait_for_selector("#upload:enabled")
    p.set_input_files("#upload", files=[{"name": "vod.mp4", "mimeType": "video/mp4",
                                         "buffer": b"not a video"}])
    p.wait_for_selector("#chosen li[data-key='uploads:vod.mp4']")
    # no error: only the requests of the first load, cut by the reload, did not end
    assert [x for x in page.problems if "ERR_ABORTED" not in x] == [], page.problems


@pytest.mark.slow
def test_an_upload_is_chosen_again_without_uploading_it_again(tmp_path, browser, serve):
    """An uploaded file removed from the chosen list, or uploaded before a reload or a restart
    of m0 gui, could not be chosen again: only another upload of it (an hour for a long VOD,
    a second copy, ``NAME-2.mp4``, taking the quota) brought it back. The uploads are listed
    under *Uploaded*, to tick as the browser's files are."""
    page = open_with(browser, serve, tmp_path, {})
    p = page.page
    p.wait_for_selector("#browser li.none")  # the page is ready (its config loaded)
    p.set_input_files("#upload", files=[{"name": "vod.mp4", "mimeType": "video/mp4",
                                         "buffer": b"not a video"}])
    p.wait_for_selector("#uploaded input[data-upload='vod.mp4']:checked")
    p.click("#chosen li[data-key='uploads:vod.mp4'] button")  # removed by mistake
    p.wait_for_selector("#uploaded input[data-upload='vod.mp4']:not(:checked)")
    p.check("#uploaded input[data-upload='vod.mp4']")
    assert p.inner_text("#chosen li").startswith("uploads/vod.mp4")
    assert page.problems == [], "\n".join(page.problems)
    p.close()
    server = serve(tmp_path / "videos", tmp_path / "out")  # m0 gui started again
    p = Page(browser, server.url).page
    p.check("#uploaded input[data-upload='vod.mp4']")
    assert p.inner_text("#uploaded li").split() == ["vod.mp4", "11", "B"]
    p.click("#start")
    p.wait_for_selector(".job[data-name='uploads/vod.mp4'][data-status=failed]", timeout=60_000)
    assert os.listdir(tmp_path / "out" / "uploads") == ["vod.mp4"]
