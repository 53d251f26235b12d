"""The compile cache's files: reading an artifact and its checksum without following
links or waiting on pipes, recognizing what sits where a file or folder of an entry
belongs, and removing it, with errors that name the path and the fix (cache.py decides
when; this module knows how)."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import stat

from ..errors import CacheError

log = logging.getLogger("graphad")

CHECKSUM = ".sha256"
MISSING = "is missing"
# never follow a symbolic link, nor wait on a pipe, found where a file belongs
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def listdir(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:  # missing, or removed by a concurrent clear()
        return []


def reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def junk(path: str, folder: bool = False) -> str | None:
    """What sits at ``path`` if it is not what belongs there (a regular file, or a folder
    when ``folder``), e.g. "a symbolic link"; None if it is right or missing. Symbolic
    links are never followed: every path of an entry is the cache's own."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return None if folder else "a folder"
    if stat.S_ISREG(mode):
        return "a file" if folder else None
    return "a special file"


def read_file(path: str) -> bytes:
    """The content of the regular file ``path``; OSError if it is anything else."""
    fd = os.open(path, _READ_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        with open(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def examine(path: str) -> tuple[str | None, bytes | None]:
    """(None, content) if artifact ``path`` matches its checksum; else (what is wrong, None)."""
    try:
        data = read_file(path)
    except FileNotFoundError:
        return MISSING, None
    except OSError as exc:
        what = junk(path)
        return (f"is {what}, not a file" if what else f"cannot be read ({reason(exc)})"), None
    try:
        expected = read_file(path + CHECKSUM).decode("ascii", "replace").strip()
    except FileNotFoundError:
        return "has no checksum", None
    except OSError as exc:
        what = junk(path + CHECKSUM)
        return f"has {what or 'an unreadable file'} as its checksum ({reason(exc)})", None
    if hashlib.sha256(data).hexdigest() != expected:
        return "does not match its checksum (truncated or corrupt)", None
    return None, data


def cache_error(path: str, exc: OSError, doing: str) -> CacheError:
    """A CacheError saying that the cache cannot ``doing`` ``path``, and how to fix it."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CacheError(
            f"graphad's compile cache cannot {doing} {path} ({reason(exc)}): it is not "
            f"writable for this process. Make it writable (chmod -R u+w {path}, as its owner; "
            "chattr -i if `lsattr` shows it immutable), remove it, or use another cache "
            "folder: GRAPHAD_FLAGS=compiledir=/a/writable/folder (or ga.config.compiledir)",
            path,
        )
    return CacheError(
        f"graphad's compile cache cannot {doing} {path} ({reason(exc)}); remove it (rm -r "
        f"{path}) or run `python -m graphad cache clear`",
        path,
    )


def remove_path(path: str) -> None:
    """Remove ``path`` (a file, a link, or a folder and all in it) if it is there."""
    for _ in range(3):
        try:
            if junk(path) == "a folder":
                shutil.rmtree(path, ignore_errors=True)  # all it can
                if os.path.lexists(path):
                    _remove_one_by_one(path)  # raises the reason of what stays
            else:
                os.remove(path)
            return
        except FileNotFoundError:  # another process removed it, or a part of it, first
            if not os.path.lexists(path):
                return
    raise OSError(errno.ENOTEMPTY, "other processes keep writing in it", path)


def _remove_one_by_one(folder: str) -> None:
    """Remove what is in ``folder``, deepest first, then ``folder``: OSError names the
    first thing that cannot be removed (rmtree's error names it relative to its parent)."""
    for parent, folders, files in os.walk(folder, topdown=False):
        for name in files + folders:
            path = os.path.join(parent, name)
            if junk(path) == "a folder":
                os.rmdir(path)
            else:
                os.remove(path)
    os.rmdir(folder)


def remove(path: str) -> None:
    try:
        remove_path(path)
    except OSError as exc:
        raise cache_error(exc.filename or path, exc, "remove") from None


def remove_junk(path: str, folder: bool = False) -> bool:
    """Remove what sits at ``path`` if it is not what belongs there; whether it did."""
    what = junk(path, folder)
    if what is None:
        return False
    wanted = "folder" if folder else "file"
    log.info("compile cache: removing %s, %s where a %s belongs", path, what, wanted)
    remove(path)
    return True


def remove_all(path: str) -> list[str]:
    """Remove ``path`` and all in it; what could not be removed, with the reason."""
    try:
        remove_path(path)
    except OSError as exc:
        return [f"{exc.filename or path} ({reason(exc)})"]
    return []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process (an absurd pid counts as gone)
    return True
