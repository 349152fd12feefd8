"""Files replaced whole: a reader sees the old content or the new one, never a part (private).

One mechanism for every file kerasdl rewrites in place: ``config.toml``, ``summary.json`` and
``state.json`` (`kerasdl.runs`), ``best.keras`` (`kerasdl.callbacks.save_model_atomically`) and
``last.keras`` (the runner). Light: the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path


def replace_atomically(
    path: str | os.PathLike,
    write: Callable[[str], None],
    *,
    suffix: str = "",
    before_replace: Callable[[str], None] | None = None,
) -> Path:
    """Fill ``path`` through a temporary file, then move it over ``path`` in one step.

    ``write(temporary)`` writes the new content to a hidden file next to ``path``, named
    ``.<name>.<6 random bytes in hex>.tmp<suffix>`` (``<name>`` is ``path``'s name without
    ``suffix``: Keras, say, only saves to a name that ends in ``.keras``). The file is then
    ``fsync``-ed and moved over ``path`` with ``os.replace`` (atomic on POSIX and Windows), and on
    POSIX the directory is synced, so the rename itself is durable. If anything fails, the
    temporary file is removed and the error raised: ``path`` keeps its old content. A process
    killed mid-write can leave the temporary file behind, never a broken ``path``.
    ``before_replace(temporary)``, if given, runs once the temporary file is complete and on
    disk, before it replaces ``path`` (`kerasdl.run.resume` hashes it there).

    Returns:
        ``path``, as a `Path`.
    """
    path = Path(path)
    name = path.name.removesuffix(suffix) if suffix else path.name
    temporary = path.with_name(f".{name}.{secrets.token_hex(6)}.tmp{suffix}")
    try:
        write(str(temporary))
        with open(temporary, "r+b") as handle:
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace(str(temporary))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make the renames in ``directory`` durable (POSIX; nothing elsewhere)."""
    if os.name == "posix":
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


class UnreadableFile(OSError):
    """A file of a run directory that is not read: not a regular file, or too large."""


def read_regular_file(path: str | os.PathLike, limit: int) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes; None if absent.

    Run directories are untrusted: ``events.jsonl`` may be a FIFO (an ``open`` that waits
    forever), a symlink to ``/dev/zero`` or ``/dev/full`` (a read that never ends), or a
    directory. The file is opened without blocking (a FIFO opens at once), then ``fstat`` must
    say it is a regular file (a symlink to a regular file is read), and at most ``limit + 1``
    bytes are read, so a file that grows while it is read is cut off too.

    Raises:
        UnreadableFile: Not a regular file, or larger than ``limit``; the message says which.
        OSError: Another failure to read (permissions, I/O).
    """
    try:
        handle = open_regular(path, buffering=0)
    except FileNotFoundError:
        return None
    with handle:
        chunks, size = [], 0
        while size <= limit:
            chunk = handle.read(min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    if size > limit:
        raise UnreadableFile(
            f"{os.fspath(path)} is larger than {limit:,} bytes (a damaged or foreign file?); "
            "it is not read"
        )
    return b"".join(chunks)


def open_regular(path: str | os.PathLike, *, buffering: int = -1):
    """``path`` opened for binary reading if it is a regular file; it never blocks (a FIFO
    opens at once, then is refused).

    Raises:
        FileNotFoundError: No such file.
        UnreadableFile: A directory, a FIFO, a device: not a regular file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError as exc:
        raise UnreadableFile(f"{os.fspath(path)} is a directory, not a file") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise UnreadableFile(f"{os.fspath(path)} is {kind}; it is not read")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb", buffering=buffering)
