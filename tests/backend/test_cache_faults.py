"""The compile cache under damage (issue 19): each kind of fault that fault injection found
is rebuilt, or raises a CacheError that names the path and the fix; killed and interrupted
builds leave nothing that counts as an entry.

Cases that could crash (a SIGBUS while loading a module) or hang (a pipe where a file
belongs) run in a child process with a private compiledir, so that a crash fails the test
instead of killing pytest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import filelock
import numpy as np
import pytest

import graphad as ga
from graphad.backend.c.module import shared_library_problem
from graphad.backend.cache import CompileCache, cache_key
from graphad.errors import CacheError

REPO = Path(__file__).resolve().parents[2]
EXT = sysconfig.get_config_var("EXT_SUFFIX")
FUNCTION = """
import logging
import graphad as ga
logging.basicConfig()  # the cache's warnings, on stderr
x = ga.vector("x")
print(ga.function([x], ga.exp(x) * 2 + 1)([0.0, 1.0]).tolist())
"""
VALUE = str((np.exp([0.0, 1.0]) * 2 + 1).tolist())
GET = """
import sys
from graphad.backend.cache import CompileCache
def build(tmp):
    with open(tmp, "w") as f:
        f.write("built")
with open(CompileCache(sys.argv[1]).get(sys.argv[2], build)) as f:
    print(f.read())
"""
# the C compiler, slowed down for the function's module (gdmod.c), so that the test can
# interrupt or kill graphad while it compiles; the pid in $MARKS/started.* is that of a
# process it started, as gcc starts cc1, as and ld
SLOW_CC = """#!/bin/sh
case "$*" in
*gdmod.c*)
    sleep "$SLOW_S" &
    echo $! > "$MARKS/started.$$"
    wait $!
    "{cc}" "$@"
    status=$?
    touch "$MARKS/done.$$"
    exit $status;;
esac
exec "{cc}" "$@"
"""


def _child(args, root, env=None, timeout=90) -> subprocess.CompletedProcess:
    """Run ``python *args`` on the cache folder ``root``."""
    full = {**os.environ, "PYTHONPATH": str(REPO), "GRAPHAD_FLAGS": f"compiledir={root}"}
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        env={**full, **(env or {})},
        timeout=timeout,
    )


def _checksum_ok(path: Path) -> bool:
    expected = Path(f"{path}.sha256").read_text().strip()
    return hashlib.sha256(path.read_bytes()).hexdigest() == expected


def _write_with_checksum(path: Path, data: bytes) -> None:
    """Damage that the checksum cannot see: ``data`` and its own checksum."""
    path.write_bytes(data)
    Path(f"{path}.sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")


def _healthy(entry: Path, name: str) -> bool:
    artifact = entry / name
    return (
        entry.is_dir()
        and not entry.is_symlink()
        and artifact.is_file()
        and not artifact.is_symlink()
        and _checksum_ok(artifact)
        and (entry / ".lock").is_file()
        and not [n for n in os.listdir(entry) if n.startswith(".tmp-")]
    )


def _module(root: Path) -> Path:
    """The function's module in ``root`` (the other entry is the runtime module)."""
    (path,) = root.glob(f"*/*/gdmod{EXT}")
    return path


def _wait_for(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return found


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is done


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@contextlib.contextmanager
def _immutable(path: Path):
    """``path`` made immutable (chattr +i): not writable even for root."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed (e2fsprogs)")
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(
            f"chattr +i does not work here ({result.stderr.strip()}): it needs root "
            "(CAP_LINUX_IMMUTABLE) and a file system with attributes (ext4, xfs, btrfs)"
        )
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A cache folder holding FUNCTION's module and the runtime module."""
    root = tmp_path_factory.mktemp("built") / "cache"
    result = _child(["-c", FUNCTION], root, timeout=180)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def cache_copy(built, tmp_path) -> Path:
    root = tmp_path / "cache"
    shutil.copytree(built, root)
    return root


# -- modules whose checksum matches but that do not load --------------------------------


def _cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _garbage(data: bytes) -> bytes:
    return b"not a shared library " * 50


@pytest.mark.parametrize("damage", [_cut, _garbage], ids=["truncated", "garbage"])
def test_module_with_matching_checksum_that_does_not_load_is_rebuilt(cache_copy, damage):
    # before: a truncated module crashed the process (SIGBUS, exit status 135); garbage
    # raised "ImportError: invalid ELF header" on every run until `cache clear`
    path = _module(cache_copy)
    bad = damage(path.read_bytes())
    _write_with_checksum(path, bad)
    for run in range(2):  # rebuilt by the first run, found whole by the second
        result = _child(["-c", FUNCTION], cache_copy)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == VALUE
        assert path.read_bytes() != bad and _healthy(path.parent, path.name)
        assert ("does not load" in result.stderr) == (run == 0)


def test_every_truncation_of_a_module_is_refused_before_it_is_loaded(built):
    data = _module(built).read_bytes()
    assert shared_library_problem(data) is None
    # from 4 bytes on: shorter is no ELF file, and the loader refuses it ("file too short")
    missed = [n for n in range(4, len(data), 37) if shared_library_problem(data[:n]) is None]
    assert missed == []


def test_a_module_that_never_loads_raises_a_cache_error_naming_it(tmp_path):
    cache, key, builds = CompileCache(tmp_path), cache_key("never loads"), []

    def build(tmp):
        builds.append(tmp)
        Path(tmp).write_text("module")

    def load(path, data):
        raise ImportError(f"{path}: undefined symbol: gd_missing")

    path = cache.get(key, build)
    with pytest.raises(CacheError, match=f"{re.escape(path)} does not load, even rebuilt") as e:
        cache.load(key, build, load)
    assert e.value.path == path and "cache clear" in str(e.value)
    assert len(builds) == 2  # one rebuild, not more
    with pytest.raises(CacheError, match="just built, does not load.*report"):
        cache.load(cache_key("new"), build, load)  # a fresh build is not retried
    assert len(builds) == 3


def test_a_load_that_fails_once_is_rebuilt_and_loaded(tmp_path):
    cache, key = CompileCache(tmp_path), cache_key("fails once")
    path = Path(cache.get(key, lambda tmp: Path(tmp).write_text("good")))
    _write_with_checksum(path, b"bad")

    def load(path, data):
        if data == b"bad":
            raise OSError(f"{path}: cannot map segment")
        return data

    assert cache.load(key, lambda tmp: Path(tmp).write_text("good"), load) == b"good"


# -- something else where an entry's file or folder belongs -----------------------------


def _replace_by_file(path: Path, tmp: Path) -> None:
    shutil.rmtree(path)
    path.write_text("junk")


def _replace_by_folder(path: Path, tmp: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_text("junk")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _replace_by_self_link(path: Path, tmp: Path) -> None:
    _remove(path)
    path.symlink_to(path.name)


def _replace_by_dangling_link(path: Path, tmp: Path) -> None:
    _remove(path)
    path.symlink_to(tmp / "nowhere" / "at all")


def _replace_by_pipe(path: Path, tmp: Path) -> None:
    path.unlink()
    os.mkfifo(path)


JUNK = [
    ("entry", _replace_by_file),
    ("entry", _replace_by_self_link),
    ("entry", _replace_by_dangling_link),
    (".lock", _replace_by_folder),
    (".lock", _replace_by_self_link),
    (".lock", _replace_by_dangling_link),
    ("mod.so", _replace_by_folder),
    ("mod.so", _replace_by_self_link),
    ("mod.so", _replace_by_dangling_link),
    ("mod.so", _replace_by_pipe),
    ("mod.so.sha256", _replace_by_folder),
    ("mod.so.sha256", _replace_by_self_link),
    ("mod.so.sha256", _replace_by_dangling_link),
    ("mod.so.sha256", _replace_by_pipe),
]
JUNK_IDS = [f"{where} {junk.__name__[12:].replace('_', ' ')}" for where, junk in JUNK]


def _junk_entry(root: Path, tmp: Path, source: str, where: str, junk) -> tuple[str, Path]:
    """A finished entry of ``source`` in ``root`` with ``junk`` at ``where``."""
    key = cache_key(source)
    entry = Path(CompileCache(root).get(key, lambda t: Path(t).write_text("built"))).parent
    if where == ".lock":  # the lock is taken to build: a reader of a whole entry takes none
        (entry / "mod.so.sha256").unlink()
    junk(entry if where == "entry" else entry / where, tmp)
    return key, entry


@pytest.mark.parametrize("where, junk", JUNK, ids=JUNK_IDS)
def test_junk_in_an_entry_is_replaced_by_a_build(tmp_path, where, junk):
    # before: NotADirectoryError, IsADirectoryError, FileExistsError or "Too many levels
    # of symbolic links" from every process that needed the entry
    root = tmp_path / "cache"
    key, entry = _junk_entry(root, tmp_path, "junk", where, junk)
    result = _child(["-c", GET, root, key], root, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "built"
    assert _healthy(entry, "mod.so")


def test_cache_clear_removes_junk_of_every_kind(tmp_path):
    # before: an entry that is a file, and one whose lock is a folder, survived `clear`
    root = tmp_path / "cache"
    entries = [_junk_entry(root, tmp_path, str(i), *case)[1] for i, case in enumerate(JUNK)]
    (tmp_path / "nowhere").mkdir()  # the dangling links' target folder: left alone
    result = _child(["-m", "graphad", "cache", "clear"], root, timeout=30)
    assert result.returncode == 0, result.stderr
    assert not [e for e in entries if os.path.lexists(e)]
    assert os.listdir(root) == [] and os.listdir(tmp_path / "nowhere") == []


# -- what cannot be repaired: a CacheError that says how to fix it ----------------------


def test_unwritable_entry_folder_says_so_and_how_to_fix_it(cache_copy):
    # before: "the C compiler failed ... (please report this bug)"
    path = _module(cache_copy)
    path.unlink()
    Path(f"{path}.sha256").unlink()
    with _immutable(path.parent):
        result = _child(["-c", FUNCTION], cache_copy)
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("graphad.errors.CacheError") and str(path.parent) in error
    assert "not writable" in error and "GRAPHAD_FLAGS=compiledir=" in error
    assert "report this bug" not in result.stderr


def test_immutable_module_that_does_not_load_names_the_file(tmp_path):
    cache, key = CompileCache(tmp_path), cache_key("immutable")
    path = Path(cache.get(key, lambda tmp: Path(tmp).write_text("good")))
    _write_with_checksum(path, b"bad")

    def load(path, data):
        if data == b"bad":
            raise ImportError(f"{path}: invalid ELF header")
        return data

    with _immutable(path), pytest.raises(CacheError, match=re.escape(str(path))) as e:
        cache.load(key, lambda tmp: Path(tmp).write_text("good"), load)
    assert "chattr -i" in str(e.value) and "GRAPHAD_FLAGS=compiledir=" in str(e.value)


def test_cache_clear_names_what_it_cannot_remove(tmp_path):
    root = tmp_path / "cache"
    cache = CompileCache(root)
    stuck = Path(cache.get(cache_key("stuck"), lambda t: Path(t).write_text("x")))
    cache.get(cache_key("free"), lambda t: Path(t).write_text("x"))
    with _immutable(stuck):
        result = _child(["-m", "graphad", "cache", "clear"], root, timeout=30)
        assert result.returncode == 1
        assert "removed 1 entry" in result.stdout  # the other one
        assert str(stuck) in result.stderr and "chattr -i" in result.stderr
    cache.clear()
    assert os.listdir(root) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file: nothing to test")
def test_unreadable_module_is_rebuilt(tmp_path):
    root = tmp_path / "cache"
    key, entry = _junk_entry(root, tmp_path, "unreadable", "mod.so", lambda p, t: p.chmod(0))
    result = _child(["-c", GET, root, key], root, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "built" and _healthy(entry, "mod.so")


# -- killed and interrupted builds ------------------------------------------------------


def _start_slow_build(built: Path, tmp_path: Path, seconds: float):
    """A child compiling FUNCTION with a slow compiler; (child, cache folder, temp folder,
    marks folder) once the compiler runs."""
    root, tmp, marks = tmp_path / "cache", tmp_path / "tmp", tmp_path / "marks"
    shutil.copytree(built, root)
    shutil.rmtree(_module(root).parent)  # the runtime module stays: only FUNCTION builds
    tmp.mkdir()
    marks.mkdir()
    cc = tmp_path / "slow-cc"
    cc.write_text(SLOW_CC.format(cc=shutil.which(ga.config.cc)))
    cc.chmod(0o755)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GRAPHAD_FLAGS": f"compiledir={root},cc={cc}",
        "TMPDIR": str(tmp),
        "MARKS": str(marks),
        "SLOW_S": str(seconds),
    }
    # not pipes: the compiler outlives a killed child and would hold them open
    child = subprocess.Popen(
        [sys.executable, "-c", FUNCTION],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stderr").open("w"),
        env=env,
    )
    try:
        _wait_for(lambda: list(marks.glob("started.*")))
    except BaseException:
        child.kill()
        raise
    return child, root, tmp, marks


@pytest.mark.parametrize("then", ["build", "clear"])
def test_kill_9_during_a_build_leaves_nothing_that_counts(built, tmp_path, then):
    # before: the compiler wrote a .tmp-<pid>-... file into the entry after the kill,
    # which stayed and was counted by `cache info`, and graphad-build-*/gdmod.c stayed in
    # the temp folder
    child, root, tmp, marks = _start_slow_build(built, tmp_path, seconds=1)
    before = CompileCache(root).info()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    _wait_for(lambda: list(marks.glob("done.*")))  # the orphaned compiler finished
    (dead,) = root.glob(f"*/*/.tmp-{child.pid}-*")
    assert list(dead.glob(f"gdmod{EXT}"))  # its output: never taken as an entry
    assert CompileCache(root).info() == before
    assert os.listdir(tmp) == []
    if then == "build":
        result = _child(["-c", FUNCTION], root)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == VALUE
        assert _healthy(dead.parent, f"gdmod{EXT}")
    else:
        result = _child(["-m", "graphad", "cache", "clear"], root)
        assert result.returncode == 0, result.stderr
        assert os.listdir(root) == []
    assert not os.path.lexists(dead)


def test_interrupted_build_kills_the_compiler_and_removes_its_files(built, tmp_path):
    child, root, tmp, marks = _start_slow_build(built, tmp_path, seconds=60)
    (started,) = marks.glob("started.*")
    compiler = int(started.read_text())  # a process the compiler started
    child.send_signal(signal.SIGINT)  # KeyboardInterrupt, as ^C in a terminal
    try:
        child.wait(timeout=30)
    finally:
        child.kill()
    assert child.returncode != 0
    assert "KeyboardInterrupt" in (tmp_path / "stderr").read_text()
    _wait_for(lambda: not _running(compiler), seconds=10)  # killed, not left to finish
    assert not list(root.glob("*/*/.tmp-*")) and os.listdir(tmp) == []
    assert CompileCache(root).info()["entries"] == 1  # the runtime module's


def test_clear_removes_dead_builds_from_an_entry_being_built(tmp_path):
    cache, key = CompileCache(tmp_path), cache_key("busy")
    entry = Path(cache.get(key, lambda t: Path(t).write_text("x"))).parent
    dead, live = entry / f".tmp-{_dead_pid()}-aa", entry / f".tmp-{os.getpid()}-bb"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "mod.so").write_text("half a module" * 100)
    assert cache.info()["bytes"] == 1 + 65  # the entry, not the builds' folders
    with filelock.FileLock(str(entry / ".lock")):  # another build holds the entry
        assert cache.clear() == 0
    assert not dead.exists() and live.exists()
    assert cache.clear() == 1 and not entry.exists()
