"""``m0 gui`` as a careless user or a hostile page would use it, a report of hostile names,
plugins that pose as built-ins, a batch that must leave other programs' files alone, a GUI
watching a batch the CLI runs, a client leaving mid-run: through the real CLI, a real
server process and its HTTP API."""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import Page, run_m0
from helpers import files
from procs import m0_popen, tagged_env, wait_for, wait_gone
from test_faults import SLOW, _finish

pytest.importorskip("starlette")


# -- uploads ---------------------------------------------------------------------------------

def test_bad_names_paths_and_bodies_get_a_4xx_never_a_500(serve, tmp_path):
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    server = serve(root, out, "--max-upload", "1M")
    cases = [
        ("PUT", "api/upload?name=" + urllib.request.quote("a\x00.mp4"), b"v", "control"),
        ("PUT", "api/upload?name=" + urllib.request.quote("a\nb.mp4"), b"v", "line breaks"),
        ("PUT", "api/upload?name=" + urllib.request.quote("\x1b[31mred.mp4"), b"v", "control"),
        ("PUT", "api/upload?name=" + "x" * 300 + ".mp4", b"v", "too long"),
        ("POST", "api/start", json.dumps({"paths": ["x" * 5000]}).encode(), "characters"),
        ("GET", "api/browse?path=" + "y/" * 2500, None, "characters"),
        ("POST", "api/start", json.dumps({"paths": [1]}).encode(), "list of file names"),
        ("POST", "api/start", json.dumps({"paths": "a.mp4"}).encode(), "list of file names"),
        ("POST", "api/start", json.dumps([1, 2]).encode(), "JSON object"),
        ("POST", "api/start", json.dumps({"settings": [1]}).encode(), "settings"),
        ("POST", "api/start", b"[" * 100_000, "not valid JSON"),
        ("POST", "api/start", b"\xff\xfe", "not valid JSON"),
        ("POST", "api/reference", json.dumps({"uploads": [None]}).encode(), "list"),
    ]
    for method, path, body, message in cases:
        status, answer = server.call(method, path, body)
        assert 400 <= status < 500, (path[:80], status, answer)
        assert isinstance(answer, dict) and message in answer["error"], (path[:80], answer)
    assert not (out / "uploads").exists() or os.listdir(out / "uploads") == []
    server.stop()
    assert "Traceback" not in server.proc.stderr.read()


def test_uploads_have_a_total_quota(serve, tmp_path):
    """The quota counts every stored upload: 2 x 1200 bytes fit in 3000, a third does not."""
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    server = serve(root, out, "--max-upload", "1M", "--upload-quota", "3000")
    for _ in range(2):
        status, answer = server.call("PUT", "api/upload?name=a.mp4", b"v" * 1200)
        assert status == 200, answer
    status, answer = server.call("PUT", "api/upload?name=b.mp4", b"v" * 1200)
    assert status == 413 and "quota" in answer["error"], answer
    assert sorted(os.listdir(out / "uploads")) == ["a-2.mp4", "a.mp4"]  # none half-written
    server.stop()
    assert "Traceback" not in server.proc.stderr.read()


@pytest.mark.slow
def test_a_reupload_never_replaces_a_file_a_run_reads(serve, tmp_path, vod):
    """The second upload of ``vod.mp4`` gets its own name; the run of the first one is not
    cut short by it (its clips are real, not 0-second ones)."""
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    server = serve(root, out)
    status, answer = server.call("PUT", "api/upload?name=vod.mp4", vod.read_bytes())
    assert status == 200 and answer["upload"] == "vod.mp4"
    status, _ = server.call("POST", "api/start", json.dumps(
        {"uploads": ["vod.mp4"], "settings": {"cut": "accurate"}}).encode())
    assert status == 200
    status, answer = server.call("PUT", "api/upload?name=vod.mp4", b"not a video at all")
    assert status == 200 and answer["upload"] == "vod-2.mp4"
    assert (out / "uploads" / "vod.mp4").read_bytes() == vod.read_bytes()

    def done() -> bool:
        jobs = server.call("GET", "api/jobs")[1]["jobs"]
        return bool(jobs) and jobs[0]["status"] in ("completed", "failed")

    wait_for(done, 180, "the run of the first upload")
    [job] = server.call("GET", "api/jobs")[1]["jobs"]
    assert job["status"] == "completed" and job["clips"] == 2, job
    folder = next(out.glob("vod_highlights"))
    doc = json.loads((folder / "highlights.json").read_text())
    assert all(h["end"] - h["start"] > 5 and h["clip"] for h in doc["highlights"])


# -- host, shutdown, the ledger's view -------------------------------------------------------

def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_gui_on_ipv6_loopback_accepts_its_own_host(serve, tmp_path):
    server = serve(tmp_path, tmp_path / "out", "--host", "::1")
    assert server.url.startswith("http://[::1]:")
    status, answer = server.call("GET", "api/config")
    assert status == 200 and "analyzers" in answer
    status, _ = server.call("GET", "api/config", headers={"Host": "evil.example"})
    assert status == 400


def test_ctrl_c_with_a_page_open_stops_at_once_without_a_traceback(serve, tmp_path):
    server = serve(tmp_path, tmp_path / "out")
    host, port = re.match(r"http://([^/]+):(\d+)/", server.url).groups()
    stream = http.client.HTTPConnection(host, int(port), timeout=30)
    stream.request("GET", server.url.split(port, 1)[1] + "api/events")
    response = stream.getresponse()
    assert response.status == 200 and response.readline().startswith(b"data: ")
    began = time.monotonic()
    server.proc.send_signal(signal.SIGINT)
    server.proc.wait(timeout=30)
    took = time.monotonic() - began
    stderr = server.proc.stderr.read()
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert server.proc.returncode == 0
    assert took < 1.5, f"{took:.1f} s to stop"
    assert not wait_gone(server.tag, 5)
    stream.close()


def test_the_gui_shows_a_job_a_cli_batch_runs_as_running(serve, tmp_path, vod, fake_dist):
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    shutil.copy(vod, root / "vod.mp4")
    env = dict(fake_dist("m0-slow", SLOW), M0_SLOW="1")
    env, tag = tagged_env(env)
    batch = m0_popen("batch", str(root / "vod.mp4"), str(out), "--analyzer", "slow",
                     "--no-cache", env=env)
    try:
        wait_for(lambda: (out / "m0-batch.sqlite").exists(), 60, "the ledger")
        server = serve(root, out)

        def status() -> str | None:
            jobs = server.call("GET", "api/jobs")[1]["jobs"]
            return jobs[0]["status"] if jobs else None

        wait_for(lambda: status() in ("running", "interrupted", "completed"), 60, "the job")
        assert status() == "running"
    finally:
        os.killpg(batch.pid, signal.SIGKILL)
        _finish(batch)
    wait_gone(tag, 20)
    # the batch is gone now: its job is shown interrupted
    wait_for(lambda: status() == "interrupted", 30, "the job shown interrupted")


@pytest.mark.slow
def test_a_client_leaving_mid_run_loses_no_work(serve, tmp_path, vod):
    """The page (its event stream) goes away while a batch runs: the batch finishes, its
    outputs are complete and listed, no process is left behind once the server stops."""
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    shutil.copy(vod, root / "vod.mp4")
    server = serve(root, out)
    host, port = re.match(r"http://([^/]+):(\d+)/", server.url).groups()
    stream = http.client.HTTPConnection(host, int(port), timeout=30)
    stream.request("GET", server.url.split(port, 1)[1] + "api/events")
    stream.getresponse().readline()
    status, _ = server.call("POST", "api/start", json.dumps(
        {"paths": ["vod.mp4"], "settings": {"cut": "accurate"}}).encode())
    assert status == 200
    stream.sock.shutdown(socket.SHUT_RDWR)  # the client vanishes
    stream.close()

    def ended() -> bool:
        jobs = server.call("GET", "api/jobs")[1]["jobs"]
        return bool(jobs) and jobs[0]["status"] not in ("running", "queued")

    wait_for(ended, 180, "the batch to end")
    [job] = server.call("GET", "api/jobs")[1]["jobs"]
    assert job["status"] == "completed" and job["clips"] == 2, job
    folder = out / "vod_highlights"
    doc = json.loads((folder / "highlights.json").read_text())
    assert all((folder / h["clip"]).is_file() for h in doc["highlights"])
    assert not [n for n in files(folder) if n.startswith(".")]
    server.stop()
    assert not wait_gone(server.tag, 10)


# -- a batch and other programs' files -------------------------------------------------------

def test_a_batch_leaves_other_programs_hidden_files_alone(tmp_path, vod):
    out = tmp_path / "out"
    folder = out / "vod_highlights"
    folder.mkdir(parents=True)
    theirs = [".notes.tmp", ".partial-download.mp4", ".sync.tmp"]
    for name in theirs:
        (folder / name).write_text("not m0's")
    missing_folder = out / "missing_highlights"
    missing_folder.mkdir()
    (missing_folder / ".editor.tmp").write_text("not m0's")
    shutil.copy(vod, tmp_path / "vod.mp4")
    run = run_m0("batch", str(tmp_path / "vod.mp4"), str(tmp_path / "missing.mp4"), str(out))
    assert run.returncode == 1  # missing.mp4 fails, and its folder is cleaned of m0's own only
    for name in theirs:
        assert (folder / name).read_text() == "not m0's", name
    assert (missing_folder / ".editor.tmp").read_text() == "not m0's"
    assert (folder / "highlights.json").is_file()


# -- plugins that pose as built-ins ----------------------------------------------------------

def test_safe_mode_judges_a_plugin_by_its_distribution(fake_dist, tmp_path):
    """A foreign distribution whose entry point names a module of ``m0_plugins`` is still a
    third-party plugin: safe mode does not load it."""
    env = fake_dist("m0-posing", "")
    site = Path(env["PYTHONPATH"].split(os.pathsep)[0])
    [info] = site.glob("m0_posing-*.dist-info")
    (info / "entry_points.txt").write_text("[m0]\nposing = m0_plugins.rms\n")
    env["M0_LOAD_PLUGINS"] = ""
    run = run_m0("plugins", "--all", "--json", env=env)
    assert run.returncode == 0, run.stderr
    [posing] = [p for p in json.loads(run.stdout) if p["name"] == "posing"]
    assert not posing["builtin"] and posing["disabled"] == "not in M0_LOAD_PLUGINS", posing


# -- report.html -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a<!--<script>x.mp4", "{{DATA}} {{TITLE}}.mp4"])
def test_a_report_of_a_hostile_name_shows_its_data(name, vod, tmp_path, browser):
    path = tmp_path / name
    shutil.copy(vod, path)
    out = tmp_path / "out"
    run = run_m0("analyze", str(path), str(out), "-q")
    assert run.returncode == 0, run.stderr
    text = (out / "report.html").read_text()
    title = re.search(r"<title>(.*?)</title>", text, re.S).group(1)
    assert html.unescape(title) == f"{name} · m0 highlights"  # as written, before any script
    page = Page(browser, (out / "report.html").as_uri())
    data = page.page.evaluate("JSON.parse(document.getElementById('m0-data').textContent)")
    assert data["title"] == name and len(data["highlights"]) == 2
    assert page.page.title() == f"{name} · m0 highlights"
    assert page.count("video") >= 2 and not page.problems, page.problems
