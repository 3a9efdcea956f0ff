"""What a run writes to its output folder: ``highlights.json`` and the seed's ``index.json``,
always, then what the chosen writers plugins write (``report.html``, ``--format`` files).

Every file is written under a temporary name and renamed, so a reader never sees half a file.
Temporary names (:func:`temp_name`) say that m0 made them and which process did, so a rerun
removes what a killed run left (:func:`remove_stale_temps`) and nothing else.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m0core import contracts, plugins
from m0core.errors import InputError, M0Error, OutputError
from m0core.stops import held_signals

if TYPE_CHECKING:
    from m0core.model import Highlight
    from m0core.options import Options
    from m0core.result import AnalysisResult

HIGHLIGHTS_SCHEMA = "m0.highlights/1"
HIGHLIGHTS_FILE = "highlights.json"
INDEX_FILE = "index.json"
#: Every temporary file or folder m0 makes is ``.partial-<pid>-<8 characters>-<name>``.
TEMP_PREFIX = ".partial-"
#: How the file that tries whether an output folder takes files ends (:func:`prepare_out_dir`).
WRITE_TEST_SUFFIX = "-write-test"
_TEMP = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-[a-z0-9_]{8}-")


def temp_name(name: str) -> str:
    """A hidden temporary name for ``name`` (same extension), owned by this process."""
    return f"{temp_prefix()}{secrets.token_hex(4)}-{name}"


def temp_prefix() -> str:
    """The ``prefix`` of this process's temporary names for :mod:`tempfile` (whose random 8
    characters follow it; give ``suffix="-<name>"``)."""
    return f"{TEMP_PREFIX}{os.getpid()}-"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (psutil, imported only when a temporary is found)."""
    import psutil

    return psutil.pid_exists(pid)


def remove_stale_temps(folder: str | os.PathLike, *, own: bool = True) -> None:
    """Remove m0's temporary files and folders in ``folder`` whose process has ended, or that
    belong to this process unless ``own`` is false (call it, with ``own``, when none of them
    is being written). Anything else, even a hidden ``.partial-*`` or ``.tmp`` file of
    another program, is left alone."""
    for path in Path(folder).glob(f"{TEMP_PREFIX}*"):
        m = _TEMP.match(path.name)
        if m is None:
            continue
        owner = int(m.group(1))
        mine = owner == os.getpid()
        if (mine and not own) or (not mine and _alive(owner)):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            pass


class NotAFolder(OutputError):
    """The output folder's path is a file: the user's to change, not the machine's (a batch
    does not run its job again unless asked)."""


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and make sure files can be written in it."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotAFolder(f"{out}: exists and is not a folder")
    if out.is_symlink() and not out.exists():
        raise OutputError(f"{out}: is a link to {os.readlink(out)}, which does not exist")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    # named before it exists, so a stop (Ctrl-C) at any point of its making removes it too; a
    # stop is held until it is gone: raised inside its removal, it left the file there
    test_file = out / temp_name(WRITE_TEST_SUFFIX.lstrip("-"))
    with held_signals():
        try:
            os.close(os.open(test_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise OutputError(f"{out}: cannot write in the output folder ({exc.strerror})") \
                from None
        finally:
            with suppress(OSError):
                test_file.unlink()
    return out


@contextmanager
def out_dir_for(out_dir: str | os.PathLike) -> Iterator[Path]:
    """:func:`prepare_out_dir`, for a block that fills it: a folder the block made and left
    empty (it failed: a bad option, an interruption, every clip of it failed) is removed
    again, so a call that made nothing leaves no folder behind."""
    created = not os.path.lexists(out_dir)
    try:  # made inside: a stop (Ctrl-C, a closed terminal) just after the mkdir removes it too
        yield prepare_out_dir(out_dir)
    finally:
        if created:
            with suppress(OSError):  # not empty: what the block made stays
                Path(out_dir).rmdir()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_text_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (UTF-8) or bytes to ``path`` through a temporary file and a rename."""
    tmp = path.parent / temp_name(path.name)  # named first: a stop while it is made removes it
    try:
        with open(tmp, "xb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.chmod(tmp, 0o644)  # outputs are meant to be shared, whatever the umask
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def numbered(index: int, count: int) -> str:
    """``index`` zero-padded to the width of ``count``, the largest number of its run (at least
    two digits): ``01``…``99``, and ``001``…``999`` in a run of 100 to 999, so that the files
    named by it sort in order."""
    return f"{index:0{max(2, len(str(count)))}d}"


def position(seconds: float) -> str:
    """``H:MM:SS`` as the seed's index.json shows positions."""
    total = int(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def level(db: float, unit: str = " dB") -> str | None:
    """A highlight's ``peak_db`` for people: ``-6.3 dB`` (``unit`` after it), ``silent`` for
    −∞ dB (digital silence), ``None`` for a level that is no number (NaN or +∞, a plugin's),
    which clip names, chapters and listings then leave out."""
    if math.isfinite(db):
        return f"{db:.1f}{unit}"
    return "silent" if db == -math.inf else None


def highlight_rows(result: AnalysisResult) -> list[dict[str, Any]]:
    """One JSON-ready dict per highlight, in time order, as ``highlights.json`` lists them:
    :meth:`~m0core.model.Highlight.to_dict` and its clip's file name (``clip``, ``None``
    without one), where in the recording that clip starts (``clip_start``, with a clip) and
    why a clip failed (``clip_error``)."""
    clips = {c.highlight.index: c for c in result.clips}
    rows = []
    for h in result.highlights:
        row = h.to_dict()
        clip = clips.get(h.index)
        row["clip"] = Path(clip.path).name if clip and clip.ok and clip.path else None
        if row["clip"] and clip.start is not None:
            row["clip_start"] = round(clip.start, 3)
        if clip and not clip.ok:
            row["clip_error"] = clip.error
        rows.append(row)
    return rows


def highlights_document(result: AnalysisResult, outputs: list[str] | None = None
                        ) -> dict[str, Any]:
    """The ``highlights.json`` document (schema ``m0.highlights/1``); ``outputs`` are the
    other files the run wrote (paths relative to the output folder), its ``outputs`` field:
    by default those of ``result.outputs`` (a finished run's), as its published file lists
    them."""
    from m0core.version import __version__

    if outputs is None and result.out_dir is not None:
        named = (_relative(p, result.out_dir) for p in result.outputs)
        outputs = [n for n in named if n and n != HIGHLIGHTS_FILE]

    pre, post = result.options.window
    return {
        "schema": HIGHLIGHTS_SCHEMA,
        "m0_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {**result.media.to_dict(), "audio_track": result.options.audio_track,
                   "plugin": result.source.name},
        "analyzer": {**result.analyzer.to_dict(), "hop": result.hop},
        "selector": {**result.selector.to_dict(), "threshold": result.options.threshold},
        "clips": {
            "encoder": result.options.encoder if result.options.clips else None,
            "cut": result.options.clip_cut,
            "short_form": result.options.short_form.to_dict(),
            "pre": pre,
            "post": post,
            "made": sum(1 for c in result.clips if c.ok),
            "failed": len(result.failed_clips),
        },
        "highlights": highlight_rows(result),
        "outputs": sorted(outputs or []),
        "compilation": result.compilation.to_dict() if result.compilation else None,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
        "warnings": list(result.warnings),
    }


def read_highlights(path: Path) -> tuple[list[Highlight], dict[str, Any]]:
    """The highlights of a ``highlights.json`` that ``m0 analyze`` wrote, and its ``source``
    (the recording it was made of: its ``name``, ``duration``…); an :class:`InputError` of
    one line when ``path`` cannot be read or is not one."""
    from m0core.model import Highlight

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("schema") != HIGHLIGHTS_SCHEMA:
            raise ValueError(f"not an {HIGHLIGHTS_SCHEMA} document")
        found = [Highlight(start=float(r["start"]), end=float(r["end"]),
                           peak_time=float(r["peak_time"]),
                           peak_db=float(r["peak_db"] if r["peak_db"] is not None else "nan"),
                           score=float(r["score"] if r["score"] is not None else "nan"),
                           kind=str(r.get("kind", "highlight")), index=int(r["index"]),
                           reason=str(r.get("reason") or ""))
                 for r in doc["highlights"]]
        source = dict(doc.get("source") or {})
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a highlights.json from m0 analyze ({exc})") from None
    return found, source


def index_document(result: AnalysisResult) -> dict[str, dict[str, Any]]:
    """The seed's ``index.json``: ``{"312": {"position": "0:05:12", "decibel": -6.3}}``, keyed
    by the peak's whole second; a peak in the same second as another (``min_gap`` under 1 s)
    is keyed by its time in ms (``"312.406"``), so every highlight is in it."""
    index: dict[str, dict[str, Any]] = {}
    for h in result.highlights:
        key = str(int(h.peak_time))
        if key in index:
            key = f"{h.peak_time:.3f}"
        index[key] = {"position": position(h.peak_time), "decibel": h.to_dict()["peak_db"]}
    return index


def create_writers(options: Options) -> dict[str, Any]:
    """The writers ``options`` asks for (``formats`` and the report) by name, built before the
    run so that an unknown format or a missing dependency fails before hours of decoding."""
    return {name: plugins.create("writers", name) for name in options.writers}


def write_outputs(result: AnalysisResult, writers: dict[str, Any] | None = None, *,
                  progress: Callable[[int, int], None] | None = None
                  ) -> tuple[list[Path], list[str]]:
    """Write ``index.json`` into ``result.out_dir``, let each writer (by name; default:
    :func:`create_writers` of the result's options) write its files, then write
    ``highlights.json``, the run's record, naming every other file written (``outputs``).

    ``progress(done, total)`` is told how many of the writers' steps are done (a writer's
    optional ``steps``: the report's thumbnails and page; one for a writer without it): with
    0 before the first writer, then after each step, ``total`` at the end.

    Returns the paths written and one line per writer that failed: a writer's error (an
    exception of its own becomes a :class:`~m0core.errors.PluginError` naming it) does not
    stop the others nor remove what is written. An interruption (``KeyboardInterrupt``)
    removes every file written here and is raised, as is a failure to write the two JSON files.
    """
    assert result.out_dir is not None
    written: list[Path] = []
    failed: list[str] = []
    try:
        index = result.out_dir / INDEX_FILE
        write_json_atomic(index, index_document(result))
        written.append(index)
        writers = create_writers(result.options) if writers is None else writers
        steps = _Steps(result, writers, progress)
        for name, writer in writers.items():
            before = _entries(result.out_dir)
            try:
                with steps.of(name, writer) as counted, plugins.blame("writers", name):
                    returned = writer.write(result, result.out_dir, **counted)
                    problem = contracts.returned_problem(returned, "write()",
                                                         "a list of the paths it wrote")
                    paths = [] if problem else list(returned)
                problem = problem or contracts.written_problem(paths, result.out_dir) \
                    or _own_file_problem(paths, result.out_dir)
                if problem is not None:
                    write_json_atomic(index, index_document(result))  # as it was, if replaced
                    raise plugins.broken("writers", name, problem)
                written += [Path(p) for p in paths]
            except M0Error as exc:
                _remove_new(result.out_dir, before)  # half of its files are none of them
                failed.append(str(exc))
        made = written + ([Path(result.compilation.path)] if result.compilation is not None
                          and result.compilation.ok and result.compilation.path else [])
        named = [_relative(p, result.out_dir) for p in made]
        target = result.out_dir / HIGHLIGHTS_FILE
        write_json_atomic(target, highlights_document(result, [n for n in named if n]))
        written.append(target)
    except BaseException:
        for path in written:  # an interrupted run leaves none of its outputs behind
            _unlink(str(path))
        raise
    return written, failed


def _entries(folder: Path) -> set[str]:
    """The paths of every file and folder inside ``folder``."""
    return {os.path.join(root, name) for root, folders, names in os.walk(folder)
            for name in folders + names}


def _remove_new(folder: Path, before: set[str]) -> None:
    """Remove what is inside ``folder`` and not in ``before`` (:func:`_entries`): what a
    writer that failed left there, so that it is not published."""
    for path in sorted(_entries(folder) - before):  # a folder before what is in it
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            _unlink(path)


def _own_file_problem(paths: list[Any], out_dir: Path) -> str | None:
    """What breaks the contract in the paths a writer returned, or ``None``: none is one of
    m0's own files (:data:`INDEX_FILE`, :data:`HIGHLIGHTS_FILE`), which it would replace."""
    for path in paths:
        if _relative(path, out_dir) in (INDEX_FILE, HIGHLIGHTS_FILE):
            return (f"wrote {Path(path).name}, which is m0's own ({INDEX_FILE} and "
                    f"{HIGHLIGHTS_FILE}: name your files otherwise)")
    return None


class _Steps:
    """The writers' steps done, told to a progress callback ``(done, total)``."""

    def __init__(self, result: AnalysisResult, writers: dict[str, Any],
                 progress: Callable[[int, int], None] | None) -> None:
        self.progress = progress
        self.counts: dict[str, int | M0Error] = {}
        for name, writer in writers.items():
            count = contracts.optional("writer", writer, "steps")
            try:
                if count is None:
                    self.counts[name] = 1
                    continue
                with plugins.blame("writers", name):
                    said = count(result)
                problem = contracts.steps_problem(writer, said)
                if problem is not None:
                    raise plugins.broken("writers", name, problem)
                self.counts[name] = max(1, int(said))
            except M0Error as exc:  # the writer's failure, told when its turn comes
                self.counts[name] = exc
        self.total = sum(c if isinstance(c, int) else 1 for c in self.counts.values())
        self.done = self.end = 0
        self._tell()

    @contextmanager
    def of(self, name: str, writer: Any) -> Iterator[dict[str, Callable[[], None]]]:
        """The keyword arguments of the writer ``name``'s ``write``: ``step`` when it has
        ``steps``. Its steps are all done when the block ends, however many it told."""
        count = self.counts[name]
        if isinstance(count, M0Error):
            self._advance(self.done + 1)
            raise count
        self.end = self.done + count
        try:
            yield ({"step": lambda: self._advance(min(self.done + 1, self.end))}
                   if contracts.optional("writer", writer, "steps") else {})
        finally:
            self._advance(self.end)

    def _advance(self, done: int) -> None:
        if done > self.done:
            self.done = done
            self._tell()

    def _tell(self) -> None:
        if self.progress is not None and self.total:
            self.progress(self.done, self.total)


def _relative(path: str | os.PathLike, folder: Path) -> str | None:
    """``path`` relative to ``folder`` (POSIX), or ``None`` if it is not inside it."""
    try:
        return Path(path).absolute().relative_to(folder.absolute()).as_posix()
    except ValueError:
        return None
