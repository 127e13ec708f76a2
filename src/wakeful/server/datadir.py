"""One writer per data directory: an exclusive lock taken at start, held until stop."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from wakeful.errors import WakefulError

__all__ = ["LOCK_FILE", "DataDirError", "DataDirLock"]

LOCK_FILE = "wakeful.lock"


class DataDirError(WakefulError):
    """The data directory cannot be used: locked by another server, read-only, not a directory."""


class DataDirLock:
    """An exclusive `flock` on `<data dir>/wakeful.lock`, which records the holder's pid.

    The kernel drops the lock when the process dies, however it dies, so a crashed server
    never leaves a stale lock behind.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise `DataDirError` with a one-line reason."""
        path = self.data_dir / LOCK_FILE
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise DataDirError(f"cannot use data directory {self.data_dir}: {_reason(e)}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirError(
                f"data directory {self.data_dir} is in use by another wakeful server "
                f"(pid {holder}); stop it or choose another --data-dir"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:
            os.close(fd)
            raise DataDirError(f"cannot use data directory {self.data_dir}: {_reason(e)}") from e
        self._fd = fd

    def release(self) -> None:
        """Let the next server in."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
