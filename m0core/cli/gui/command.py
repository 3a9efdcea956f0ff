"""The ``m0 gui`` command: start the web app and open it in the browser."""

from __future__ import annotations

from pathlib import Path

import click

from m0core import workers
from m0core.cli.console import warn
from m0core.cli.options import output_path
from m0core.errors import M0Error

DEFAULT_MAX_UPLOAD = "8G"
DEFAULT_UPLOAD_QUOTA = "32G"


@click.command(short_help="Open m0 in your web browser.",
               epilog="Example: m0 gui --root ~/Videos --out ~/Videos/highlights")
@click.option("--root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=".", help="The folder whose videos the page may show (nothing outside).")
@click.option("--out", type=click.Path(file_okay=False), callback=output_path,
              default="m0-highlights", help="Where uploads, clips and reports go.")
@click.option("--host", default="127.0.0.1", metavar="ADDRESS",
              help="Address to listen on; anything but loopback lets other machines in.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=False,
              metavar="PORT",
              help="Port to listen on  [default: a free one]")
@click.option("--max-upload", default=DEFAULT_MAX_UPLOAD, metavar="SIZE",
              help="Largest upload, e.g. 500M, 8G.")
@click.option("--upload-quota", default=DEFAULT_UPLOAD_QUOTA, metavar="SIZE",
              help="Most bytes all the files in OUT/uploads may take together.")
@click.option("--no-browser", is_flag=True, help="Only print the URL; do not open a browser.")
def gui(root: Path, out: Path, host: str, port: int, max_upload: str, upload_quota: str,
        no_browser: bool) -> None:
    """Open m0 in your web browser: pick videos, start, watch the progress, play the clips.

    A local web server runs until you press Ctrl-C. Its URL holds a secret token that changes
    at every launch; requests without it are refused. Results are recorded in OUT's batch
    ledger, so stopping the server loses no finished work.
    """
    try:
        import uvicorn

        from m0core.cli.gui.app import LOOPBACK, create_app
    except ImportError:
        raise M0Error("m0 gui needs the web extra: pip install 'm0-clipper[gui]'") from None
    from m0core.cli.gui.files import parse_size
    from m0core.outputs import prepare_out_dir

    limit, quota = parse_size(max_upload), parse_size(upload_quota)
    prepare_out_dir(out)
    local = host in LOOPBACK
    if not local:
        warn(f"listening on {host}: other machines that reach it and know the URL can use m0 "
             "and read the files under --root")
    import secrets
    import socket
    import webbrowser

    token = secrets.token_urlsafe(24)
    app = create_app(root, out, token, max_upload=limit, upload_quota=quota,
                     hosts=None if local else ["*"])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise M0Error(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(128)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown.strip('[]')}]" if ":" in shown else shown
    url = f"http://{shown}:{sock.getsockname()[1]}/{token}/"
    click.echo(f"m0 gui: {url}  (Ctrl-C stops it)", err=False)
    if not no_browser:
        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3,
                            lifespan="on")

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            app.state.stopping.set()  # event streams end, so open pages do not hold it up
            super().handle_exit(sig, frame)

    try:
        Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn raises again the Ctrl-C or SIGTERM it stopped on: stopping is the point
    # The server, its batch and its connections are closed: skip the interpreter's teardown
    # of the libraries the plugins imported (seconds with numba and PyAV), so Ctrl-C ends now.
    workers.end_now(0)
