"""Shared fixtures: real media made with ffmpeg's lavfi sources at test time, plugin helpers."""

from __future__ import annotations

import fcntl
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from procs import GuiServer

from m0core import plugins
from m0core.dev import judge_training
from m0core.judge import spectra

pytest_plugins = ["m0core.testing"]

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the processes the tests start as it does from a terminal: a shell that
    runs the suite in the background (``pytest &``) starts it with SIGINT ignored, which every
    process it starts inherits, and the tests that stop m0 with Ctrl-C saw m0 ignore it."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile m0's modules to bytecode once, before the tests: the suite starts hundreds of
    Python processes that import them (``m0`` commands, decoding and batch workers), and
    where Python writes no bytecode itself (``PYTHONDONTWRITEBYTECODE``) each one compiled
    them anew (0.23 s more for a short ``m0 analyze``). Nothing is compiled that is up to
    date; a folder that cannot be written is left as it is."""
    import compileall

    import m0_plugins
    import m0core

    for package in (m0core, m0_plugins):
        compileall.compile_dir(Path(package.__file__).parent, quiet=2)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): a worker per core this process may use, at most 4,
    since each test starts ffmpegs and ``m0`` processes of its own."""
    return max(1, min(len(os.sched_getaffinity(0)), 4))


def sweep(values: Iterable, default: Container, key: Callable = lambda value: value) -> list:
    """The cases of a sweep for ``parametrize``: those whose ``key`` is in ``default`` run in
    the default tier, the others carry the slow mark (``pytest -m slow``, which CI runs too).
    The default tier keeps a case of each kind of way the sweep goes wrong; the slow tier
    holds the rest. A tuple is a case of several arguments (``parametrize("a, b", ...)``);
    ``key=itemgetter(0)`` tells such cases by their first."""
    return [value if key(value) in default else pytest.param(
                *value if isinstance(value, tuple) else (value,), marks=pytest.mark.slow)
            for value in values]


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str,
              make: Callable[[Path], T]) -> T:
    """What ``make(folder)`` returns (picklable), made once for all of pytest-xdist's workers
    in the session's folder ``name``: the first to need it makes it while the others wait.
    Each worker making its own had two make the same files at once on the same cores, and a
    module's fixture, torn down when a worker turns to another module and set up again when
    it comes back, made them anew each time."""
    # imported here: imported with conftest, before pytest loads it as a plugin, its
    # asserts would not be rewritten
    from m0core.testing import _session_folder

    folder = _session_folder(tmp_path_factory, name)
    made = folder / "made.pickle"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes
        if not made.exists():
            made.write_bytes(pickle.dumps(make(folder)))
    return pickle.loads(made.read_bytes())


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty analysis cache (subprocesses inherit it through the env)."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("M0_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def make_media(m0_media) -> Callable[..., Path]:
    """``make_media(name, *ffmpeg_args)``: :func:`m0core.testing.m0_media`."""
    return m0_media


# A loud burst from 12 s to 14 s and another from 40 s to 41 s over a quiet noise bed (both
# seeded: every session, and the vod and its wav, hear the same audio).
LOUD_AT = (13.0, 40.5)
_AUDIO_EXPR = (
    "anoisesrc=color=pink:amplitude=0.02:sample_rate=48000:duration={d}:seed=5[bed];"
    "anoisesrc=color=white:amplitude=0.6:sample_rate=48000:duration={d}:seed=7,"
    "volume='between(t,12,14)+between(t,40,41)':eval=frame[burst];"
    "[bed][burst]amix=inputs=2:normalize=0"
)


@pytest.fixture(scope="session")
def vod(make_media) -> Path:
    """A 60 s 320x240 mp4 (h264 + aac stereo) with loud moments at :data:`LOUD_AT`."""
    return make_media(
        "vod.mp4",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=60",
        "-filter_complex", _AUDIO_EXPR.format(d=60),
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
        "-c:a", "aac", "-ac", "2", "-shortest",
    )


@pytest.fixture(scope="session")
def vod_ts(make_media, vod: Path) -> Path:
    """:func:`vod` remuxed into an MPEG-TS, whose seeks land on the keyframe after a time
    between keyframes."""
    return make_media("vod.ts", "-i", str(vod), "-c", "copy")


@pytest.fixture(scope="session")
def wav(make_media) -> Path:
    """The audio of :func:`vod` as a 60 s 48 kHz wav."""
    return make_media("vod.wav", "-filter_complex", _AUDIO_EXPR.format(d=60), "-ac", "2")


@pytest.fixture(scope="session")
def video_only(make_media) -> Path:
    """A 5 s mp4 with no audio stream."""
    return make_media(
        "video_only.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=5",
        "-c:v", "libx264", "-preset", "ultrafast",
    )


FPS, FRAMES, GOP = 10, 90, 40  # keyframes at 0, 4 and 8 s; B-frames in between
#: Frame n is a flat grey of luma 16 + 2 n (limited range), so a thumbnail tells its frame.
RAMP = f"color=black:size=350x200:rate={FPS}:duration={FRAMES / FPS},geq=lum=16+2*N:cb=128:cr=128"


@pytest.fixture(scope="session")
def ramp(make_media) -> Path:
    """A 9 s 350x200 h264 mp4 whose frames all differ, with 4 s GOPs and B-frames."""
    return make_media("ramp.mp4", "-f", "lavfi", "-i", RAMP, "-c:v", "libx264",
                      "-preset", "veryfast", "-bf", "2", "-g", str(GOP), "-keyint_min", str(GOP),
                      "-sc_threshold", "0", "-pix_fmt", "yuv420p")


@pytest.fixture(scope="session")
def ramp_variants(ramp, make_media) -> dict[str, Path]:
    """The ramp with a sound track (both with an edit list: the B-frames' delay, the AAC
    priming), its video starting 1.3 s after its sound, without edit lists, and as a MOV."""
    sound = ["-f", "lavfi", "-i", "sine=duration=9", "-map", "0:v", "-map", "1:a",
             "-c:v", "copy", "-c:a", "aac"]
    return {
        "with sound": make_media("ramp_sound.mp4", "-i", str(ramp), *sound),
        "late video": make_media("ramp_late.mp4", "-itsoffset", "1.3", "-i", str(ramp),
                                 *sound),
        "no edit list": make_media("ramp_noedit.mp4", "-i", str(ramp), *sound,
                                   "-use_editlist", "0"),
        "video alone, no edit list": make_media("ramp_bare.mp4", "-i", str(ramp), "-c",
                                                "copy", "-use_editlist", "0"),
        "mov": make_media("ramp.mov", "-i", str(ramp), "-c", "copy"),
    }


@pytest.fixture
def register_plugin() -> Iterator[Callable[[object, str], None]]:
    """``register_plugin(obj, name)``: register a throwaway plugin for one test."""
    plugins.load_plugins()
    added: list[str] = []

    def register(obj: object, name: str) -> None:
        plugins.pm.register(obj, name=name)
        added.append(name)
        plugins.invalidate()

    yield register
    for name in added:
        plugin = plugins.pm.get_plugin(name)
        if plugin is not None:
            plugins.pm.unregister(plugin, name=name)
    plugins.invalidate()


def dists_in(site: Path) -> Callable[..., dict[str, str]]:
    """``make(name, source)``: an installed-looking distribution with an ``m0`` entry point in
    the folder ``site`` (see :func:`fake_dist`)."""
    site.mkdir(parents=True, exist_ok=True)

    def make(name: str, source: str, version: str = "1.0") -> dict[str, str]:
        module = name.replace("-", "_")
        (site / f"{module}.py").write_text(source)
        info = site / f"{module}-{version}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text(f"[m0]\n{name} = {module}\n")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
        return env

    return make


@pytest.fixture
def fake_dist(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``fake_dist(name, source)``: an installed-looking distribution with an ``m0`` entry point.

    Writes ``<module>.py`` and a ``.dist-info`` with ``entry_points.txt`` into a folder and
    returns the environment (``PYTHONPATH``) under which a subprocess discovers it through
    :mod:`importlib.metadata`, exactly as it would discover a pip-installed plugin.
    """
    return dists_in(tmp_path / "site")


def chapters_of(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, title) of each chapter, as ``ffmpeg -i`` reads them back."""
    from m0core.media.ffmpeg import ffmpeg_exe, input_arg

    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", input_arg(path)],
                          capture_output=True, text=True).stderr
    found = re.findall(r"Chapter #\d+:\d+: start (\S+), end (\S+)\n\s+Metadata:\n"
                       r"\s+title\s+: (.*)", text)
    return [(float(a), float(b), t.strip()) for a, b, t in found]


def cut_copy(path: Path, to: Path, share: float = 0.8) -> Path:
    """``to``: the first ``share`` of ``path``'s bytes, as a recording whose writing stopped
    there (a crash, a copy or download that stopped). It stops inside an MPEG-TS packet (188
    bytes each), as such a copy does: one that stopped between two packets looks whole, and
    a share of a file's bytes falls there on one encoding in a few."""
    data = path.read_bytes()
    end = int(len(data) * share)
    to.write_bytes(data[: end - 1 if end % 188 == 0 else end])
    return to


def ended_pid() -> int:
    """The pid of a process that has ended (the owner of a temporary a killed m0 left)."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return ended.pid


def stop_when_made(monkeypatch: pytest.MonkeyPatch, part: str) -> None:
    """Make the making of a file whose name holds ``part`` stop (Ctrl-C) just after the file
    is made, whichever way it is made (``os.open``, as :mod:`tempfile` does, ``open`` or
    ``Path.write_text``)."""
    import builtins
    import io

    real_os_open, real_open = os.open, builtins.open

    def stopped_os_open(path, flags, *args, **kwargs):
        fd = real_os_open(path, flags, *args, **kwargs)
        if part in os.fspath(path):
            os.close(fd)
            raise KeyboardInterrupt
        return fd

    def stopped_open(path, *args, **kwargs):
        fh = real_open(path, *args, **kwargs)
        if isinstance(path, (str, os.PathLike)) and part in os.fspath(path):
            fh.close()
            raise KeyboardInterrupt
        return fh

    monkeypatch.setattr(os, "open", stopped_os_open)
    monkeypatch.setattr(builtins, "open", stopped_open)
    monkeypatch.setattr(io, "open", stopped_open)


def stop_when_removed(monkeypatch: pytest.MonkeyPatch, part: str) -> None:
    """Have a real Ctrl-C (SIGINT, raised as Python's handler raises it) land as a file whose
    name holds ``part`` is first removed: just before its ``os.unlink``, where a stop raised
    inside a cleanup leaves the file."""
    real_unlink = os.unlink
    stopped = []

    def stopped_unlink(path, *args, **kwargs):
        if part in os.fspath(path) and not stopped:
            stopped.append(path)
            signal.raise_signal(signal.SIGINT)  # Python's handler runs as this returns
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", stopped_unlink)


def run_heldout(*args: str) -> subprocess.CompletedProcess:
    """Run the held-out tool (``python -m m0core.dev.heldout``) and capture its output."""
    return subprocess.run([sys.executable, "-m", "m0core.dev.heldout", *args],
                          capture_output=True, text=True, timeout=120)


def run_m0(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real CLI (``python -m m0core``) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "m0core", *args], capture_output=True, text=True, env=env,
        cwd=cwd, timeout=timeout,
    )


# -- a selector fed a curve --------------------------------------------------------------

def moments_curve(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A curve of ``count`` minutes over a -40 dBFS bed with a moment held at -22 dBFS for
    2 s every 40 s from 30 s, every other one 20 s after a bang of 0.3 s at -35 dBFS (a
    burst only the loose selector keeps, and only once the 45 s after it show the bed is
    not busy: after the moment that follows it is decided), and spectra of noise (so each
    moment's features differ)."""
    rng = np.random.default_rng(seed)
    scores = np.full(count * 600, -40.0) + rng.normal(0, 0.5, count * 600)
    for k, at in enumerate(range(30, count * 60 - 20, 40)):
        scores[at * 10:at * 10 + 20] = -22.0
        if k % 2:
            scores[(at - 20) * 10:(at - 20) * 10 + 3] = -35.0
    codes = rng.integers(60, 140, (count * 60 * spectra.FPS, spectra.BANDS), dtype=np.uint8)
    return scores, codes


def fed(selector: Any, scores: np.ndarray, codes: np.ndarray | None) -> list:
    """Feed ``selector`` the curve ``scores`` (hop 0.1 s) and its spectra ``codes`` (none:
    ``None``) 30 s at a time, each piece's spectra first, as a run does; its highlights."""
    return judge_training.fed(selector, scores, 0.1, 30.0, codes)


# -- a real headless Chromium (report.html, m0 gui) -----------------------------------------
# Debian's chromium (.ci/run installs it) or M0_CHROMIUM; tests that need it skip when neither
# is there, unless M0_REQUIRE_BROWSER=1 (as in CI) makes that a failure. Playwright's own
# browser download is never used.
CHROMIUM = os.environ.get("M0_CHROMIUM") or shutil.which("chromium")
REQUIRE_BROWSER = os.environ.get("M0_REQUIRE_BROWSER", "") not in ("", "0")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture
def serve() -> Iterator[Callable[..., GuiServer]]:
    """``serve(root, out, *args, env=None)``: an ``m0 gui`` server (:class:`procs.GuiServer`),
    stopped after the test."""
    started: list[GuiServer] = []

    def start(root: Path, out: Path, *args: str, env: dict | None = None) -> GuiServer:
        started.append(GuiServer(root, out, *args, env=env))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")  # closed after each module: other tests count child processes
def browser() -> Iterator:
    """A headless Chromium driven by Playwright."""
    if not CHROMIUM:
        if REQUIRE_BROWSER:
            pytest.fail("M0_REQUIRE_BROWSER is set but there is no chromium on PATH")
        pytest.skip("no chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def pages_closed() -> Iterator[None]:
    """Close the pages a test opened once it ends: left open in the module's browser, each
    page of an ``m0 gui`` kept trying to reach its stopped server (about 0.6 % of a core each,
    some 50 of them by the end of test_gui)."""
    yield
    while Page.opened:
        page = Page.opened.pop().page
        if not page.is_closed():
            page.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for screenshots."""
    return tmp_path_factory.mktemp("screenshots")


class Page:
    """A page of ``browser`` with every console message and page error recorded, closed after
    its test (:func:`pages_closed`)."""

    opened: list[Page] = []  # the pages of the running test

    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        Page.opened.append(self)
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning")
                     and self.problems.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        self.page.on("requestfailed", self._failed)
        self.page.goto(url)
        self.page.wait_for_load_state("load")

    def _failed(self, request) -> None:
        # A media element drops its first (whole-file) request once it has what it needs:
        # that is how browsers stream media over HTTP, not a failure.
        if request.resource_type == "media" and request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"failed: {request.url} ({request.failure})")

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def points(self, selector: str) -> int:
        return self.page.evaluate(
            f"document.querySelector({selector!r}).getAttribute('points').split(' ').length")

    def accessible(self, *roles: str) -> list[str]:
        """The names of the nodes of ``roles`` in Chromium's accessibility tree (what a screen
        reader reads), ``""`` for a node without a name."""
        session = self.page.context.new_cdp_session(self.page)
        nodes = session.send("Accessibility.getFullAXTree")["nodes"]
        session.detach()
        return [n.get("name", {}).get("value", "") for n in nodes if not n.get("ignored")
                and n.get("role", {}).get("value", "").lower() in roles]

    def unnamed_players(self) -> int:
        """How many video and audio players have no accessible name."""
        return self.accessible("video", "audio").count("")

    def plays(self, selector: str) -> list[float]:
        """currentTime of the first ``selector`` element before and after playing a second."""
        return self.page.evaluate(f"""async () => {{
            const m = document.querySelector({selector!r});
            m.muted = true;
            const before = m.currentTime;
            await m.play();
            await new Promise(r => setTimeout(r, 1200));
            m.pause();
            return [before, m.currentTime];
        }}""")
