"""The one rule for what a run may change in its output folder, and when.

A run writes everything it makes (clips, ``highlights.json``, ``index.json``, the report,
``--format`` files, their temporaries) into a private hidden folder inside the output folder,
``.m0-run-<pid>-<host>-<random>``. Only when the run has completed does :meth:`Staging.publish`
move its files into the output folder, in an order that keeps every file that lists a clip
true at each step: clips and other files first, then the files that list them, the run's
record ``highlights.json`` last; then, and only then, it removes the files the previous run's
record listed (its clips and its ``outputs``: report, thumbnails, ``--format`` files) that
this run did not replace. That is the one rule for what a rerun may delete: nothing else in
the folder is touched.

So a run that fails or is interrupted at any point before publishing leaves the previous run's
outputs exactly as they were (its private folder is removed; one left by a run that was killed
is removed by the next run into the folder); so does a run whose clips or outputs (the
report, a ``--format`` file) could not all be made
(:attr:`m0core.result.AnalysisResult.published`). Publishing is made of renames only (no data is
written, so a full disk cannot stop it half way); Ctrl-C or SIGTERM during it is held until it
ends, and a rename that fails puts back every file it had replaced. Runs into one folder
publish one at a time (a lock on the folder).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from m0core.errors import Interrupted, OutputError
from m0core.stops import held_signals

PREFIX = ".m0-run-"
_PREVIOUS = ".previous"  # inside the private folder: what publishing replaced, until it ends
#: Files that list clips, published after every other file; the last one is the run's record.
LISTING_ORDER = ("index.json", "highlights.json")


def _host() -> str:
    # os.uname's node name is what socket.gethostname() returns, without importing socket
    name = os.uname().nodename if hasattr(os, "uname") else _hostname()
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def _hostname() -> str:
    import socket

    return socket.gethostname()


class Staging:
    """A run's private folder inside ``out`` (created here; stale ones are cleared first).

    ``keep``: files a run must never replace or remove (its input, which may lie in ``out``,
    even be a clip of an earlier run): publishing that would is an :class:`OutputError`, and
    so is, at once, an input that the previous run's record lists (a rerun would remove it).
    """

    def __init__(self, out: Path, keep: Iterable[str | os.PathLike] = ()) -> None:
        self.out = out
        self.keep = [Path(p) for p in keep]
        #: Whether :meth:`publish` has moved this run's files in.
        self.published = False
        self._guard(self.out / name for name in previous_outputs(out))
        clear_stale(out)
        self.dir = out / f"{PREFIX}{os.getpid()}-{_host()}-{secrets.token_hex(4)}"
        try:
            self.dir.mkdir()
        except OSError as exc:
            raise OutputError(f"{out}: cannot write in the output folder ({exc.strerror})") \
                from None

    def final(self, path: str | os.PathLike) -> Path:
        """Where the staged file ``path`` goes when published."""
        return self.out / Path(path).relative_to(self.dir)

    def drop(self, path: str | os.PathLike) -> None:
        """Remove the file ``path`` if it lies in the private folder (what an encoder left of
        a clip that failed), so that it is not published; a path elsewhere is left alone."""
        target = Path(path)
        if target.resolve().is_relative_to(self.dir.resolve()) and target.is_file():
            with suppress(OSError):
                target.unlink()

    def has_previous(self) -> bool:
        """Whether the output folder holds a previous run's results (:func:`has_previous`)."""
        return has_previous(self.out)

    def discard(self) -> None:
        """Remove the private folder and everything in it."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def publish(self, made_clips: Iterable[str]) -> list[str]:
        """Move every staged file into the output folder (see the module's docstring), then
        remove the previous run's clips that ``made_clips`` (staged paths) does not replace.

        A writer's file whose place is taken by a folder is left out: returns one line for
        each. Raises :class:`OutputError` (having put every replaced file back) if a clip or
        a listing file cannot be placed or a file cannot be moved; the private folder is
        removed either way.
        """
        try:
            with held_signals(), _publishing(self.out):
                skipped = self._publish({Path(p).name for p in made_clips})
                self.published = True  # before a signal held meanwhile is delivered
                return skipped
        finally:
            self.discard()

    def _publish(self, clip_names: set[str]) -> list[str]:
        staged = sorted(p for p in self.dir.rglob("*")
                        if p.is_file() and not p.relative_to(self.dir).parts[0] == _PREVIOUS
                        and not p.name.startswith("."))
        listing = {name: i for i, name in enumerate(LISTING_ORDER)}
        rank = {p: (listing.get(p.name, -1) if p.parent == self.dir else -1) for p in staged}

        def order(p: Path) -> tuple[int, int]:
            # clips, then files in sub-folders (thumbnails), then the writers' files (which
            # may list both), then index.json and the record, highlights.json
            if rank[p] >= 0:
                return (3, rank[p])
            if p.parent == self.dir and p.name in clip_names:
                return (0, 0)
            return (1, 0) if p.parent != self.dir else (2, 0)

        staged.sort(key=order)
        skipped = []
        for path in list(staged):
            target = self.final(path)
            if os.path.isdir(target) and not os.path.islink(target):
                line = f"{target}: cannot write ({os.strerror(errno.EISDIR)})"
                if path.name in clip_names or rank[path] >= 0:
                    raise OutputError(line)
                staged.remove(path)
                skipped.append(line)
        replaced = {path.relative_to(self.dir).as_posix() for path in staged} | clip_names
        stale = [self.out / name for name in sorted(previous_outputs(self.out) - replaced)]
        self._guard([*map(self.final, staged), *stale])
        backup = self.dir / _PREVIOUS
        done: list[tuple[Path, Path | None, bool]] = []  # (target, its old copy, new file in)
        try:
            for path in staged:
                target = self.final(path)
                old = _keep(target, backup / path.relative_to(self.dir))
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                done.append((target, old, True))
            for target in stale:
                old = backup / "stale" / target.relative_to(self.out)
                if target.is_file() and not target.is_symlink():
                    old.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(target, old)
                    done.append((target, old, False))
        except OSError as exc:
            for target, old, new in reversed(done):
                try:
                    if old is not None:
                        os.replace(old, target)
                    elif new:
                        os.unlink(target)
                except OSError:
                    pass
            raise OutputError(f"{self.out}: cannot publish the outputs ({exc.strerror or exc})"
                              ) from None
        for folder in sorted({t.parent for t in stale if t.parent != self.out}, reverse=True):
            with suppress(OSError):  # a sub-folder the previous run's files left empty
                folder.rmdir()
        return skipped

    def _guard(self, targets: Iterable[Path]) -> None:
        """Raise :class:`OutputError` if a file of ``targets`` (to be replaced or removed) is
        one of :attr:`keep`."""
        for target in targets:
            for kept in self.keep:
                if same_file(target, kept):
                    raise OutputError(f"{target}: would replace or remove the input; choose "
                                      "another output folder")


def has_previous(out: Path) -> bool:
    """Whether the output folder ``out`` holds a previous run's results (its record)."""
    from m0core.outputs import HIGHLIGHTS_FILE

    return (out / HIGHLIGHTS_FILE).is_file()


@contextmanager
def kept_on_stop(out: str | os.PathLike | None,
                 published: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Say what a run into ``out`` stopped in the block (Ctrl-C, SIGTERM: a
    :class:`KeyboardInterrupt`) left there: where ``out`` holds a previous run's results and
    the run had not ``published`` its own, :class:`~m0core.errors.Interrupted` saying they were
    kept. A stop that already says what it left passes as it is."""
    try:
        yield
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted) or out is None or published() \
                or not has_previous(Path(out)):
            raise
        raise Interrupted(f"interrupted; the previous results in {out} were kept") from None


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` are one file (through links too); ``False`` if either is not
    there."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _keep(target: Path, copy: Path) -> Path | None:
    """Keep the file ``target`` (if any) as ``copy`` without ever removing it from ``target``
    (a hard link; a file system without them gets a copy); ``None`` if there is none."""
    if not os.path.lexists(target):
        return None
    copy.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(target, copy)
    except OSError:
        shutil.copy2(target, copy)
    return copy


def previous_outputs(out: Path) -> set[str]:
    """The files the ``highlights.json`` in ``out`` names as its run's: each highlight's clip
    and its ``outputs`` (none if it is absent or unreadable; only visible relative paths inside
    ``out``, never the record itself)."""
    from m0core.outputs import HIGHLIGHTS_FILE

    try:
        with open(out / HIGHLIGHTS_FILE, "rb") as fh:
            doc = json.loads(fh.read(64 * 1024 * 1024))
        names = [row["clip"] for row in doc["highlights"] if isinstance(row, dict)]
        names += list(doc.get("outputs", []))
    except (OSError, ValueError, RecursionError, KeyError, TypeError, AttributeError):
        return set()
    return {n for n in names if isinstance(n, str) and _inside(n)}


def _inside(name: str) -> bool:
    """A visible relative path below the folder (no ``..``, no hidden part, not absolute)."""
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and name not in LISTING_ORDER[-1:] \
        and all(p not in ("", ".", "..") and not p.startswith(".") for p in parts) \
        and "\\" not in name


def clear_stale(folder: str | os.PathLike) -> None:
    """Remove the private folders of runs into ``folder`` that are dead (their process is gone
    on this machine); a live run's, another machine's and anything not m0's are left alone."""
    folder = Path(folder)
    try:
        entries = list(folder.glob(f"{PREFIX}*"))
    except OSError:
        return
    for entry in entries:
        pid, _, rest = entry.name.removeprefix(PREFIX).partition("-")
        host = rest.partition("-")[0]
        if not pid.isdigit() or host != _host() or not entry.is_dir() or entry.is_symlink():
            continue
        if int(pid) == os.getpid() or _alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@contextmanager
def _publishing(out: Path) -> Iterator[None]:
    """Hold the output folder's lock for the block: one run publishes into a folder at a
    time, each reading the previous record when its turn comes (two runs publishing at once
    removed as stale the clips the other had just moved in). A lock on the folder itself
    (``flock``, POSIX), so nothing is left in it; released when the process dies."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fd = os.open(out, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened is reported by the moves themselves
        yield
        return
    try:
        with suppress(OSError):  # a file system without locks (some network mounts): none
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock

