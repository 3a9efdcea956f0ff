"""What a file *is*, for the cache and the batch ledger: one identity, taken in one place.

Two names for the same file (a relative and an absolute path, a symlink) have one identity;
the same name for another file (another folder's ``cq.mp4``, a file replaced or edited in
place, even one whose modification time was put back with ``touch -r``) has another. The
identity is the resolved absolute path and the file's device, inode, size, modification and
status-change times: an in-place edit changes the inode's ctime, which no user tool can set.

The batch ledger takes only the path, size and modification time of this identity
(:class:`m0core.batch.ledger.Identity`): a job is redone when its file changes, as
docs/batch.md says, not when a ``chmod``, a hard link or a remount changes its inode's other
numbers. The analysis cache keeps the whole identity: a curve computed again costs one
decode, results from another file would be wrong.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FileIdentity:
    """The identity of one file as it is now (see the module's docstring)."""

    path: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileIdentity:
        """The identity of the file at ``path``; raises :class:`OSError` if it cannot be read."""
        resolved = Path(path).resolve()
        st = resolved.stat()
        return cls(str(resolved), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                   st.st_ctime_ns)

    @classmethod
    def missing(cls, path: str | os.PathLike) -> FileIdentity:
        """The identity of a file that cannot be read (every number -1)."""
        return cls(os.path.abspath(os.fspath(path)), -1, -1, -1, -1, -1)

    @classmethod
    def of_or_missing(cls, path: str | os.PathLike) -> FileIdentity:
        """:meth:`of`, or :meth:`missing` when the file cannot be read."""
        try:
            return cls.of(path)
        except OSError:
            return cls.missing(path)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def token(self) -> str:
        """One line holding every field (to hash into a key)."""
        return "\0".join(str(v) for v in asdict(self).values())
