"""The batch ledger: one SQLite row per job, so a batch resumes where it stopped.

A job is keyed by its input's path, size and modification time (nanoseconds) and a hash of
the options that shape its outputs: a job is redone when its file changes, not when only its
inode does (``chmod``, a new hard link, a copy kept with its time, a remount; see
:class:`Identity`). Statuses: ``pending`` (known, not started), ``running``, ``completed``,
``failed``, ``interrupted``. A ``running`` row found when a batch starts was left by a run
that died (SIGKILL, power cut): it is turned into ``interrupted`` and redone.

Only the process that drives the batch writes the ledger; a lock file beside it keeps a second
``m0 batch`` off the same folder while one runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from m0core.errors import M0Error, OutputError
from m0core.identity import FileIdentity
from m0core.outputs import prepare_out_dir

LEDGER_FILE = "m0-batch.sqlite"
STATUSES = ("pending", "running", "completed", "failed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key          TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    options_hash TEXT NOT NULL,
    out_dir      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    started      REAL,
    finished     REAL,
    seconds      REAL,
    highlights   INTEGER,
    clips        INTEGER,
    error        TEXT,
    outputs      TEXT NOT NULL DEFAULT '[]',
    owner        TEXT,
    asked        REAL,
    retry        INTEGER NOT NULL DEFAULT 0,
    warnings     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_path ON jobs (path);
"""


@dataclass(frozen=True)
class Identity:
    """What makes two runs the same job: the input's path, size and modification time, and
    the options.

    ``path`` is the input as the batch names it (absolute, not resolved: what the user sees);
    ``file`` is what the file is (numbers -1 when it cannot be read). The key takes its size
    and modification time only, as ``make`` and ``rsync`` judge a file: its device, inode
    and status-change time (which the analysis cache also keys on) change with a ``chmod``,
    a new hard link, a backup restored or a library copied to a new disk with its times, or
    a remount, and a studio's finished jobs would all run again. What that gives up: a file
    edited in place whose size and time were put back (``touch -r``) is taken as done.

    ``folder``, the job's output folder, is part of the key when one recording is given to
    several folders with the same options in one batch (from Python): a job, and a row, per
    folder. Otherwise it is ``None`` and the folder is no part of the key (OUT_DIR may move).
    """

    path: str
    file: FileIdentity
    options_hash: str
    folder: str | None = None

    @property
    def size(self) -> int:
        """The file's size in bytes (-1: unreadable)."""
        return self.file.size

    @property
    def mtime_ns(self) -> int:
        """The file's modification time (-1: unreadable)."""
        return self.file.mtime_ns

    @property
    def key(self) -> str:
        """The ledger key of this job."""
        text = f"{self.path}\0{self.size}\0{self.mtime_ns}\0{self.options_hash}"
        if self.folder is not None:
            text += f"\0{self.folder}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @classmethod
    def of(cls, path: str | os.PathLike, options_hash: str,
           folder: str | None = None) -> Identity:
        """The identity of the file at ``path`` now (into ``folder`` when it is keyed)."""
        absolute = os.path.abspath(os.fspath(path))
        return cls(absolute, FileIdentity.of_or_missing(absolute), options_hash, folder)


#: Options that change how fast a job runs, not what it writes.
_NOT_SHAPING = ("workers", "jobs", "cache")


#: Options added after ledgers were first written, with their defaults: at the default they
#: are left out of the hash, so a ledger from before them still finds its finished jobs.
_ADDED = {"aspect": None, "fit": "blur", "height": None, "loudness": None, "fade": 0.0,
          "compilation": False}


def options_hash(options: dict[str, Any]) -> str:
    """A short stable hash of the options that shape a job's outputs."""
    shaping = {k: v for k, v in options.items() if k not in _NOT_SHAPING
               and not (k in _ADDED and v == _ADDED[k])}
    text = json.dumps(shaping, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Row:
    """One job as the ledger records it."""

    key: str
    path: str
    size: int
    mtime_ns: int
    options_hash: str
    out_dir: str
    status: str
    attempts: int
    started: float | None
    finished: float | None
    seconds: float | None
    highlights: int | None
    #: clips made; ``None`` for a job run without clips (``--no-clips``) or not finished
    clips: int | None
    error: str | None
    outputs: list[str]
    #: ``host:pid`` of the batch that started the job last (see :func:`owner_alive`).
    owner: str | None = None
    #: When a batch last asked for the job (:meth:`Ledger.add`); ``None`` in a ledger of m0
    #: 0.4.x, until a batch asks for it again.
    asked: float | None = None
    #: A ``failed`` job that the next batch runs again without ``--retry-failed``: it failed
    #: for the machine (a full disk, a killed ffmpeg, a clip that could not be cut, its file
    #: gone or changed as it ran), not for its file, options or a plugin
    #: (:func:`m0core.batch.runner.run_job`'s ``retry``).
    retry: bool = False
    #: What the job's run warned of (a recording that looks cut short), as its result's
    #: ``warnings``; none in a ledger of an earlier m0.
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)

    def seen(self) -> Row:
        """The row as a reader of the ledger should see it: a ``running`` job whose batch is
        gone (SIGKILL, a crash, a second Ctrl-C; see :func:`owner_alive`) is
        ``interrupted``, which is what the next batch makes of it."""
        if self.status == "running" and not owner_alive(self.owner):
            return replace(self, status="interrupted")
        return self

    def input_state(self) -> str:
        """Where the job's input is now: ``there`` (as the job had it), ``changed`` (another
        size or modification time: the same command would run it again) or ``gone`` (no
        file at its path: deleted, moved, its disk not mounted)."""
        now = FileIdentity.of_or_missing(self.path)
        if now.size < 0:
            return "gone"
        return "there" if (now.size, now.mtime_ns) == (self.size, self.mtime_ns) else "changed"


class Ledger:
    """The jobs of the batches run into one output folder.

    ``Ledger(path)`` reads a ledger that is there without writing to it (``m0 batch
    --status``), or creates the SQLite file in WAL mode; ``Ledger(None)`` keeps the ledger in
    memory (a batch run from Python without an output folder of its own). With ``lock=True``
    it opens the file to write, also takes an exclusive lock on ``<path>.lock`` for as long as
    it is open, and turns ``running`` rows left by a dead run into ``interrupted``.
    """

    def __init__(self, path: str | os.PathLike | None, *, lock: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self._lock_fd: int | None = None
        self._db: sqlite3.Connection | None = None
        reader = self.path is not None and not lock and self.path.is_file()
        if self.path is not None and not reader:
            prepare_out_dir(self.path.parent)
        if self.path is not None and lock:
            self._lock_fd = _take_lock(self.path.with_name(self.path.name + ".lock"))
        if reader:
            self._db = self._read()
            return
        try:
            self._db = self._open()
        except sqlite3.Error as exc:
            if self._db is not None:
                self._db.close()
                self._db = None
            self.close()
            raise OutputError(f"{self.path}: cannot open the batch ledger ({exc})") from None
        if lock:
            try:
                self._execute("UPDATE jobs SET status = 'interrupted' WHERE status = 'running'")
                self._rebase()
            except OutputError:
                self.close()
                raise

    def _open(self) -> sqlite3.Connection:
        self._db = sqlite3.connect(
            os.fspath(self.path) if self.path else ":memory:", timeout=30,
            isolation_level=None,
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(jobs)")}
        if "owner" not in columns:  # a ledger of m0 0.4.0
            self._db.execute("ALTER TABLE jobs ADD COLUMN owner TEXT")
        if "asked" not in columns:  # a ledger of m0 0.4.x
            self._db.execute("ALTER TABLE jobs ADD COLUMN asked REAL")
        if "retry" not in columns:  # a ledger of m0 0.4.x
            self._db.execute("ALTER TABLE jobs ADD COLUMN retry INTEGER NOT NULL DEFAULT 0")
        if "warnings" not in columns:  # a ledger of an earlier m0
            self._db.execute("ALTER TABLE jobs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]'")
        return self._db

    def _read(self) -> sqlite3.Connection:
        """The ledger opened read-only (``m0 batch --status`` while a batch runs, or after):
        nothing is written into it, not even the schema into an empty file or the columns a
        ledger of an earlier m0 lacks. A file with no jobs (empty: a batch killed as it
        created it, a ``touch``) reads as a ledger without rows; one on a read-only disk is
        read as it is (``immutable``)."""
        uri = self.path.absolute().as_uri()
        failed: sqlite3.Error | None = None
        for mode in ("mode=ro", "immutable=1"):
            db = sqlite3.connect(f"{uri}?{mode}", uri=True, isolation_level=None)
            db.row_factory = sqlite3.Row
            try:
                tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                    "AND name = 'jobs'").fetchall()
            except sqlite3.Error as exc:
                db.close()
                failed = exc
                continue
            if tables:
                return db
            db.close()  # no batch has written into it: read as empty
            db = sqlite3.connect(":memory:", isolation_level=None)
            db.row_factory = sqlite3.Row
            db.executescript(_SCHEMA)
            return db
        self.close()
        raise OutputError(f"{self.path}: cannot read the batch ledger ({failed})") from None

    def _execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        """Run ``sql``; a database error (a full or read-only disk) is one clear line."""
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise OutputError(f"{self.path or 'the batch ledger'}: cannot use the batch ledger "
                              f"({exc})") from None

    def _rebase(self) -> None:
        """Give the jobs whose folders moved with the ledger's (OUT_DIR moved or renamed, or
        mounted at another path) their folders where they are: a folder gone from where a
        row has it, of which one of its name is beside the ledger now."""
        if self.path is None:
            return
        home = self.path.parent.resolve()
        for (folder,) in self._execute("SELECT DISTINCT out_dir FROM jobs").fetchall():
            there = home / Path(folder).name
            if Path(folder).parent != home and not os.path.isdir(folder) and there.is_dir():
                self._execute("UPDATE jobs SET out_dir = ? WHERE out_dir = ?",
                              (os.fspath(there), folder))

    def close(self) -> None:
        """Close the database and release the lock."""
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, key: str) -> Row | None:
        """The row of ``key``, if any."""
        found = self._execute("SELECT * FROM jobs WHERE key = ?", (key,)).fetchone()
        return _row(found) if found else None

    def rows(self) -> list[Row]:
        """Every row, by input path and then by start time."""
        query = "SELECT * FROM jobs ORDER BY path, COALESCE(started, 0), key"
        return [_row(r) for r in self._execute(query)]

    def current(self) -> list[tuple[Row, int]]:
        """Per input, by path: the row of the job the latest batch asked for (the options and
        the version of the file it ran with), and how many other rows the input has (jobs of
        other options, or of the file before it changed)."""
        by_path: dict[str, list[Row]] = {}
        for row in self.rows():
            by_path.setdefault(row.path, []).append(row)
        return [(max(rows, key=lambda r: (r.asked or r.started or 0.0, r.started or 0.0)),
                 len(rows) - 1) for rows in by_path.values()]

    def folders(self) -> dict[str, str]:
        """``{out_dir: input path}`` of every folder a job has been given so far."""
        return {r["out_dir"]: r["path"] for r in
                self._execute("SELECT DISTINCT out_dir, path FROM jobs")}

    def add(self, identity: Identity, out_dir: str) -> Row:
        """Record a job as ``pending`` unless it is known already with this ``out_dir``, and
        when it was asked for (now); return its row. A known job asked into another folder is
        ``pending`` again there (what it made is in the other folder). A row an earlier m0
        wrote for the same path, size, time and options (its key took the inode and ctime
        too) is the job's: it takes the new key, so an upgrade redoes no finished job; so is,
        for a job keyed with its folder, the row of the same job into that folder."""
        now = time.time()
        if self.get(identity.key) is None:  # a row of an earlier m0, keyed on the inode too
            folder = "" if identity.folder is None else " AND out_dir = ?"
            self._execute(
                "UPDATE jobs SET key = ? WHERE key = (SELECT key FROM jobs WHERE path = ? AND "
                f"size = ? AND mtime_ns = ? AND options_hash = ?{folder} ORDER BY "
                "COALESCE(asked, started, 0) DESC LIMIT 1)",
                (identity.key, identity.path, identity.size, identity.mtime_ns,
                 identity.options_hash, *filter(None, [identity.folder])))
        self._execute(
            "INSERT OR IGNORE INTO jobs (key, path, size, mtime_ns, options_hash, out_dir, "
            "status, asked) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
            (identity.key, identity.path, identity.size, identity.mtime_ns,
             identity.options_hash, out_dir, now),
        )
        self._execute("UPDATE jobs SET out_dir = ?, status = 'pending' WHERE key = ? AND "
                      "out_dir != ?", (out_dir, identity.key, out_dir))
        self._execute("UPDATE jobs SET asked = ? WHERE key = ?", (now, identity.key))
        return self.get(identity.key)

    def start(self, key: str) -> None:
        """The job is running (one more attempt)."""
        self._execute(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, started = ?, "
            "finished = NULL, seconds = NULL, error = NULL, warnings = '[]', owner = ? "
            "WHERE key = ?",
            (time.time(), this_owner(), key))

    def finish(self, key: str, result: dict[str, Any]) -> None:
        """Record how the job ended, from a job result (see :func:`m0core.batch.runner.run_job`)."""
        status = result["status"]
        if status not in STATUSES:
            raise ValueError(f"not a ledger status: {status!r}")
        self._execute(
            "UPDATE jobs SET status = ?, finished = ?, seconds = ?, highlights = ?, clips = ?, "
            "error = ?, outputs = ?, retry = ?, warnings = ? WHERE key = ?",
            (status, time.time(), result.get("seconds"), result.get("highlights"),
             result.get("clips"), result.get("error"), json.dumps(result.get("outputs", [])),
             int(bool(result.get("retry"))), json.dumps(result.get("warnings", [])), key),
        )
        if status == "completed":  # its outputs replaced those of other jobs into the folder:
            # those jobs are to do again and no longer have outputs of their own there
            self._execute(
                "UPDATE jobs SET status = CASE status WHEN 'completed' THEN 'pending' ELSE "
                "status END, outputs = '[]' WHERE key != ? AND "
                "out_dir = (SELECT out_dir FROM jobs WHERE key = ?)", (key, key))


def this_owner() -> str:
    """``host:pid`` of this process, as :meth:`Ledger.start` records it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool:
    """Whether the batch ``owner`` (``host:pid``) may still be running: its process is alive
    on this machine, or it runs on another machine (which this one cannot see into)."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # alive, another user's
    return True


def _row(r: sqlite3.Row) -> Row:
    values = dict(r)
    values["outputs"] = json.loads(values["outputs"] or "[]")
    values["retry"] = bool(values.get("retry"))
    values["warnings"] = json.loads(values.get("warnings") or "[]")
    return Row(**values)


def _take_lock(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot write the batch ledger ({exc.strerror})") \
            from None
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, one batch at a time by hand
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise M0Error(f"{path.parent}: another m0 batch is running into this folder") from None
    return fd
