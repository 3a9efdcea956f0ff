"""The web app of ``m0 gui``: a Starlette application behind a per-launch token.

Every URL is ``/<token>/…``; anything else is refused (403). The page (``static/``) talks to a
small JSON API, listens to ``api/events`` (server-sent events) for progress and plays results
from ``out/…``. Paths from the page are confined to the browse root, the uploads folder or the
output folder (:mod:`m0core.cli.gui.files`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from m0core import plugins
from m0core.batch.ledger import Ledger
from m0core.batch.runner import MEDIA_EXTENSIONS
from m0core.cli.gui.files import UPLOADS, Forbidden, TooLarge, confine, listing, save_upload
from m0core.cli.gui.runner import Runner
from m0core.errors import M0Error, beside_name
from m0core.options import CUT_MODES, Options
from m0core.shortform import FITS

STATIC = Path(__file__).with_name("static")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
#: The "Short-form" group of the settings: Options fields, checked as the CLI's are.
SHORT_FORM_SETTINGS = ("aspect", "fit", "height", "loudness", "fade", "compilation")
#: Every setting a run takes (``settings`` of ``api/start`` and ``api/reference``).
SETTINGS = ("selector", "sensitivity", "threshold", "clip_length", "max_clips", "cut",
            "audio_track", "streaming", "analyzer", "workers", "params", *SHORT_FORM_SETTINGS)
#: Outputs the results leave out of a job's files: images (a highlight's thumbnail) are shown
#: by its report, and a long recording has hundreds.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


class TokenGate:
    """Refuse (403) every request whose path does not start with ``/<token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.prefix = f"/{token}"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            first = "/" + scope["path"].lstrip("/").split("/", 1)[0]
            if not secrets.compare_digest(first.encode(), self.prefix.encode()):
                await PlainTextResponse("forbidden: open the URL m0 gui printed",
                                        status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_name(header: str) -> str:
    """The host of a ``Host`` header without its port, lowercase: ``[::1]:8080`` → ``::1``,
    ``LocalHost:80`` → ``localhost``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.partition(":")[0]


class HostGate:
    """Refuse (400) a request whose ``Host`` is not one of ``hosts`` (``"*"``: any), so a page
    of another site cannot reach the app through DNS rebinding. IPv6 hosts are written
    bracketed in the header (``[::1]:8080``) and given bare or bracketed in ``hosts``."""

    def __init__(self, app: Any, hosts: list[str]) -> None:
        self.app = app
        self.hosts = {h.strip("[]").lower() for h in hosts}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and "*" not in self.hosts:
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(header) not in self.hosts:
                await PlainTextResponse("Invalid host header", status_code=400)(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(root: str | Path, out: str | Path, token: str, *, max_upload: int,
               upload_quota: int | None = None, hosts: list[str] | None = None) -> Starlette:
    """The app: browse ``root``, write into ``out``, uploads up to ``max_upload`` bytes each
    and ``upload_quota`` bytes in all (``None``: no total); ``hosts`` are the Host headers
    accepted (default: loopback names only)."""
    root = Path(root).resolve()
    out = Path(out).resolve()
    uploads = out / UPLOADS
    # the innermost first: with the default --out inside the root, an upload is uploads/NAME
    folders = sorted((root, out), key=lambda folder: len(folder.parts), reverse=True)

    def shown(path: Path) -> str:
        """An input as the page names it: its path under the root (``day1/stream.mp4``; one
        name is in every folder), ``uploads/NAME``, else its whole path (a terminal's batch)."""
        for folder in folders:
            if path.is_relative_to(folder):
                return path.relative_to(folder).as_posix()
        return str(path)

    runner = Runner(out, name_of=shown)
    stopping = threading.Event()  # set by m0 gui's server when it starts to stop

    def pick(kind: str, name: str) -> Path:
        path = confine(root, name) if kind == "root" else confine(uploads, name)
        if not path.is_file():
            raise Forbidden(f"{name}: no such file")
        return path

    def options_of(settings: dict) -> Options:
        import click

        from m0core.cli.options import build_options  # the CLI's rules (--streaming vs --analyzer)

        values = {k: settings[k] for k in ("selector", "sensitivity", "threshold", "clip_length",
                                           "max_clips", "cut", "audio_track",
                                           *SHORT_FORM_SETTINGS)
                  if settings.get(k) not in (None, "")}
        params = settings.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise M0Error("params must be a list of STAGE.NAME=VALUE settings")
        try:
            options = build_options(analyzer=settings.get("analyzer") or None,
                                    streaming=bool(settings.get("streaming", True)),
                                    params=tuple(params), **values)
        except click.BadParameter as exc:  # -P's rule, said without the command line's flag
            raise M0Error(f"plugin settings: {exc.message}") from None
        return plugins.named(options)  # unknown names and plugin settings: before any job

    def names(body: dict, key: str) -> list[str]:
        value = body.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise M0Error(f"{key} must be a list of file names")
        if len(value) > 10_000:
            raise M0Error(f"{key}: at most 10000 files at once")
        return value

    def inputs_of(body: dict) -> list[Path]:
        files = [pick("root", p) for p in names(body, "paths")]
        files += [pick("uploads", p) for p in names(body, "uploads")]
        if not files:
            raise M0Error("choose at least one video")
        return list(dict.fromkeys(files))

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def config(request: Request) -> JSONResponse:
        tables = plugins.registries()
        return JSONResponse({
            "analyzers": sorted(tables["analyzers"]), "selectors": sorted(tables["selectors"]),
            "cut_modes": list(CUT_MODES), "fits": list(FITS), "defaults": Options().to_dict(),
            "root": str(root), "out": str(out), "max_upload": max_upload,
            "upload_quota": upload_quota,
        })

    def own_folders() -> set[Path]:
        """What m0 writes, left out of the browser (with ``--out`` in the root, or the root
        itself): the output folder, its uploads and every job's folder (the ledger's)."""
        folders = {out, uploads}
        if runner.ledger_file.is_file():
            with Ledger(runner.ledger_file) as ledger:
                folders |= {out / Path(folder).name for folder in ledger.folders()}
        return folders

    async def browse(request: Request) -> JSONResponse:
        return JSONResponse(listing(root, request.query_params.get("path", ""),
                                    hide=own_folders()))

    def uploaded(path: Path, size: int) -> dict:
        """An upload as the page lists and chooses it: its file name, its name on the page."""
        return {"upload": path.name, "name": shown(path), "size": size}

    async def uploaded_files(request: Request) -> JSONResponse:
        files = listing(uploads, "")["files"] if uploads.is_dir() else []
        return JSONResponse({"files": [uploaded(uploads / f["name"], f["size"]) for f in files]})

    async def upload(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_upload:
            raise TooLarge(f"the upload is larger than the limit ({max_upload} bytes)")
        path = await save_upload(request.stream(), uploads, request.query_params.get("name", ""),
                                 max_upload, upload_quota)
        return JSONResponse(uploaded(path, path.stat().st_size))

    async def body_of(request: Request) -> dict:
        body = await request.json()
        if not isinstance(body, dict):
            raise M0Error("the request body must be a JSON object")
        settings = body.get("settings", {})
        if not isinstance(settings, dict):
            raise M0Error("settings must be a JSON object")
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:  # a misspelt one would be dropped: the run would not be the one asked for
            raise M0Error(f"unknown setting {unknown[0]!r} (known: {', '.join(SETTINGS)})")
        return body

    async def start(request: Request) -> JSONResponse:
        body = await body_of(request)
        settings = body.get("settings", {})
        options = options_of(settings)
        workers = settings.get("workers", 1)
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
            raise M0Error(f"workers must be a whole number from 1 to 64, not {workers!r}")
        inputs = inputs_of(body)
        runner.start(inputs, options, workers)
        return JSONResponse({"started": [str(p) for p in inputs]})

    async def cancel(request: Request) -> JSONResponse:
        return JSONResponse({"cancelled": runner.cancel()})

    async def advice(request: Request) -> JSONResponse:
        from m0core.pipeline.reference import reference

        body = await body_of(request)
        (path,) = inputs_of(body)[:1]
        options = options_of(body.get("settings", {}))
        try:
            ref = await run_in_threadpool(reference, path, options)
        except M0Error as exc:  # the file as the page names it, not by its path on the server
            raise M0Error(f"{shown(path)}: {beside_name(str(exc), str(path))}") from None
        return JSONResponse({"thresholds": ref.thresholds, "average_db": ref.average_db,
                             "adaptive_limit_db": ref.adaptive_limit_db,
                             "adaptive_highlights": ref.adaptive_highlights,
                             # a recording cut short: the file as the page names it
                             "warnings": [f"{shown(path)}: {beside_name(w, str(path))}"
                                          for w in ref.warnings]})

    def url_of(path: str | Path) -> str | None:
        real = Path(path).resolve()
        if not real.is_relative_to(out) or not real.is_file():
            return None
        return "out/" + quote(real.relative_to(out).as_posix())

    async def jobs(request: Request) -> JSONResponse:
        if not runner.ledger_file.is_file():
            return JSONResponse({"jobs": []})
        with Ledger(runner.ledger_file) as ledger:
            rows = [row for row, _ in ledger.current()]  # each file's latest job
        running = runner.running_paths()
        # a m0 batch in a terminal at work into this folder: its pending jobs are to come
        elsewhere = any(row.path not in running and row.seen().status == "running"
                        for row in rows)
        result = []
        for row in sorted(rows, key=lambda r: r.started or 0, reverse=True):
            # a running row left by a batch (this server's or not) that stopped: interrupted
            status = row.status if row.path in running else row.seen().status
            if running.get(row.path) == "queued":  # as the progress says, whatever it did last
                status = "queued"
            if status == "pending":  # as the progress says: to come, or its batch stopped
                status = "queued" if row.path in running or elsewhere else "cancelled"
            # what this job made (not what another job into its folder made since)
            clips = [p for p in row.outputs if Path(p).suffix.lower() in MEDIA_EXTENSIONS]
            others = [p for p in row.outputs if p not in clips
                      and Path(p).suffix.lower() not in IMAGE_EXTENSIONS]
            report = next((p for p in others if Path(p).name == "report.html"), None)
            result.append({
                "key": row.key, "name": shown(Path(row.path)), "path": row.path,
                "status": status, "attempts": row.attempts, "highlights": row.highlights,
                "clips": row.clips, "seconds": row.seconds, "finished": row.finished,
                "error": beside_name(row.error, row.path), "input": row.input_state(),
                "warnings": [beside_name(w, row.path) for w in row.warnings],
                "report": report and url_of(report),
                "clip_files": [{"name": Path(p).name, "url": u} for p in clips
                               if (u := url_of(p))],
                "files": [{"name": Path(p).name, "url": u} for p in others if (u := url_of(p))],
            })
        return JSONResponse({"jobs": result})

    async def events(request: Request) -> StreamingResponse:
        async def stream():  # ends when the server stops, so a page open never holds it up
            last, sent = -1, 0.0
            while not stopping.is_set():
                snap = runner.snapshot()
                if snap["version"] != last or time.monotonic() - sent > 1.0:
                    last, sent = snap["version"], time.monotonic()
                    yield f"data: {json.dumps(snap)}\n\n"
                await asyncio.sleep(0.25)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    async def output(request: Request) -> FileResponse:
        path = confine(out, request.path_params["path"])
        if not path.is_file():
            return _error("no such file", 404)
        return FileResponse(path)

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        return _error(str(exc), 403)

    async def too_large(request: Request, exc: Exception) -> JSONResponse:
        return _error(str(exc), 413)

    async def bad_input(request: Request, exc: Exception) -> JSONResponse:
        return _error(str(exc), 400)

    async def bad_json(request: Request, exc: Exception) -> JSONResponse:
        return _error("the request body is not valid JSON", 400)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await run_in_threadpool(runner.shutdown)

    api = [
        Route("/", index), Route("/api/config", config), Route("/api/browse", browse),
        Route("/api/upload", upload, methods=["PUT"]), Route("/api/uploads", uploaded_files),
        Route("/api/start", start, methods=["POST"]),
        Route("/api/cancel", cancel, methods=["POST"]),
        Route("/api/reference", advice, methods=["POST"]),
        Route("/api/jobs", jobs), Route("/api/events", events),
        Route("/out/{path:path}", output),
        Mount("/static", app=StaticFiles(directory=STATIC)),
    ]
    app = Starlette(
        routes=[Mount(f"/{token}", routes=api)],
        middleware=[Middleware(HostGate, hosts=hosts or list(LOOPBACK)),
                    Middleware(TokenGate, token=token)],
        exception_handlers={Forbidden: refused, TooLarge: too_large, M0Error: bad_input,
                            json.JSONDecodeError: bad_json, UnicodeDecodeError: bad_json,
                            RecursionError: bad_json},
        lifespan=lifespan,
    )
    app.state.runner = runner
    app.state.stopping = stopping
    return app
