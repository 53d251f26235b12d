"""The compile cache: parallel builds, damaged entries, unwritable folders, the CLI."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import filelock
import pytest

import graphad as ga
from graphad.backend import cache as cache_module
from graphad.backend.cache import CompileCache, cache_key, default_cache
from graphad.errors import GraphadError, GraphadTypeError, GraphadValueError

REPO = Path(__file__).resolve().parents[2]
CONTENT = "artifact bytes\n" * 200


def _python(*args, env=None) -> subprocess.CompletedProcess:
    """Run ``python *args`` with graphad importable from this checkout."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, *map(str, args)], capture_output=True, text=True, env=full_env, timeout=60
    )


class CountingBuild:
    """A build function that writes CONTENT and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, tmp_path):
        self.calls += 1
        Path(tmp_path).write_text(CONTENT)


def _failing_build(tmp_path):
    raise AssertionError("the cache should not have called build")


def _checksum_ok(path) -> bool:
    expected = Path(path + ".sha256").read_text().strip()
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() == expected


RACE = r"""
import hashlib, os, sys, time
from graphad.backend.cache import CompileCache, cache_key
root, log, ready, go = sys.argv[1:5]

def build(tmp):
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(0.2)  # a slow compile: the others arrive while it runs
    with open(tmp, "w") as f:
        f.write("compiled " * 1000)

open(os.path.join(ready, str(os.getpid())), "w").close()
while not os.path.exists(go):  # start together, so they really race
    time.sleep(0.002)
path = CompileCache(root).get(cache_key("same source"), build)
print(path, hashlib.sha256(open(path, "rb").read()).hexdigest())
"""


def test_eight_processes_build_once_and_agree(tmp_path):
    root, log, ready, go = tmp_path / "cache", tmp_path / "log", tmp_path / "ready", tmp_path / "go"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", RACE, root, log, ready, go]
    children = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(8)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(os.listdir(ready)) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        results = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            child.kill()
    for child, (_, err) in zip(children, results):
        assert child.returncode == 0, err
    lines = {out.strip() for out, _ in results}
    assert len(lines) == 1  # same path, same bytes
    path, digest = lines.pop().split()
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    assert len(log.read_text().splitlines()) == 1  # one compile for eight processes
    assert _checksum_ok(path)


def test_new_process_reuses_the_cache_without_building(tmp_path):
    key, build = cache_key("reused"), CountingBuild()
    path = CompileCache(tmp_path).get(key, build)
    child = (
        "import sys\n"
        "from graphad.backend.cache import CompileCache\n"
        "def build(tmp):\n"
        "    raise SystemExit('the compiler ran')\n"
        "print(CompileCache(sys.argv[1]).get(sys.argv[2], build))\n"
    )
    result = _python("-c", child, tmp_path, key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == path
    assert build.calls == 1


def test_truncated_artifact_is_rebuilt(tmp_path, caplog):
    cache, key, build = CompileCache(tmp_path), cache_key("truncated"), CountingBuild()
    path = cache.get(key, build)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.INFO, logger="graphad"):
        assert cache.get(key, build) == path
    assert build.calls == 2
    assert Path(path).read_text() == CONTENT and _checksum_ok(path)
    assert "does not match its checksum" in caplog.text
    assert cache.get(key, _failing_build) == path  # now intact


def test_artifact_without_checksum_is_rebuilt(tmp_path):
    cache, key, build = CompileCache(tmp_path), cache_key("no checksum"), CountingBuild()
    path = cache.get(key, build)
    os.remove(path + ".sha256")
    assert cache.get(key, build) == path
    assert build.calls == 2 and _checksum_ok(path)


def test_rebuild_removes_a_dead_builds_temporary_files(tmp_path):
    cache, key = CompileCache(tmp_path), cache_key("leftover")
    entry = Path(cache.entry_dir(key))
    entry.mkdir(parents=True)
    (entry / ".tmp-99999-dead-mod.so").write_text("half a module")
    path = cache.get(key, CountingBuild())
    assert sorted(os.listdir(entry)) == [".lock", "mod.so", "mod.so.sha256"]
    assert Path(path).read_text() == CONTENT


def _write_nothing(tmp_path):
    pass


def _raise(tmp_path):
    Path(tmp_path).write_text("half")
    raise OSError("cc: internal compiler error")


@pytest.mark.parametrize(
    "build, error", [(_raise, OSError), (_write_nothing, GraphadError)], ids=["raises", "silent"]
)
def test_failed_build_leaves_no_entry_and_no_temporary_files(tmp_path, build, error):
    cache, key = CompileCache(tmp_path), cache_key("fails")
    with pytest.raises(error):
        cache.get(key, build)
    assert os.listdir(cache.entry_dir(key)) == [".lock"]
    assert cache.info()["entries"] == 0
    assert Path(cache.get(key, CountingBuild())).read_text() == CONTENT  # and it recovers


@pytest.fixture
def fresh_fallbacks(monkeypatch):
    """Forget which unwritable folders this process has warned about."""
    monkeypatch.setattr(cache_module, "_fallbacks", {})
    yield cache_module._fallbacks
    for private in cache_module._fallbacks.values():
        shutil.rmtree(private, ignore_errors=True)


def _check_fallback(root: Path) -> None:
    with pytest.warns(RuntimeWarning, match=r"not writable.*GRAPHAD_FLAGS=compiledir="):
        first = CompileCache(root)
    assert first.requested == str(root) and first.root != str(root)
    assert os.path.basename(first.root).startswith("graphad-")
    key, build = cache_key("fallback"), CountingBuild()
    path = first.get(key, build)
    assert path.startswith(first.root) and Path(path).read_text() == CONTENT
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second cache of the same folder stays quiet
        second = CompileCache(root)
    assert second.root == first.root
    assert second.get(key, _failing_build) == path


def test_read_only_cache_dir_falls_back_with_one_warning(tmp_path, fresh_fallbacks):
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(0o500)
    try:
        try:
            (root / "probe").write_text("")
        except PermissionError:
            pass
        else:
            pytest.skip(
                "running as root (or with CAP_DAC_OVERRIDE): chmod 0o500 does not stop writes; "
                "test_uncreatable_cache_dir_falls_back_with_one_warning covers the fallback"
            )
        _check_fallback(root)
        assert os.listdir(root) == []
    finally:
        root.chmod(0o700)


def test_uncreatable_cache_dir_falls_back_with_one_warning(tmp_path, fresh_fallbacks):
    # a regular file where a parent folder should be: not writable, even for root
    (tmp_path / "file").write_text("")
    _check_fallback(tmp_path / "file" / "cache")


def test_key_depends_on_source_compiler_and_flags(tmp_path):
    parts = {"compiler": "/usr/bin/gcc gcc (GCC) 12.2.0", "flags": ["-O3", "-fopenmp"]}
    key = cache_key("int f;", **parts)
    assert key == cache_key("int f;", **parts)
    others = {
        cache_key("int g;", **parts),
        cache_key("int f;", **{**parts, "compiler": "/usr/bin/clang clang 17.0.6"}),
        cache_key("int f;", **{**parts, "flags": ["-O2", "-fopenmp"]}),
        cache_key("int f;", compiler=parts["compiler"]),
    }
    assert key not in others and len(others) == 4
    child = (
        "import sys\n"
        "from graphad.backend.cache import cache_key\n"
        "print(cache_key('int f;', flags=['-O3', '-fopenmp'], compiler=sys.argv[1]))\n"
    )
    result = _python("-c", child, parts["compiler"], env={"PYTHONHASHSEED": "12345"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == key


def test_key_rejects_parts_that_are_not_plain_data():
    with pytest.raises(GraphadTypeError, match="str, numbers"):
        cache_key("int f;", compiler=object())


def test_bad_key_and_name_are_refused(tmp_path):
    cache = CompileCache(tmp_path)
    with pytest.raises(GraphadValueError, match="cache_key"):
        cache.get("not-a-key", CountingBuild())
    with pytest.raises(GraphadValueError, match="plain file name"):
        cache.get(cache_key("x"), CountingBuild(), name="../escape")


def test_two_artifacts_share_one_key(tmp_path):
    cache, key = CompileCache(tmp_path), cache_key("two artifacts")
    module = cache.get(key, CountingBuild(), name="kernels", suffix=".so")
    binary = cache.get(key, CountingBuild(), name="kernels", suffix=".cubin")
    assert os.path.dirname(module) == os.path.dirname(binary) and module != binary
    assert cache.info()["entries"] == 1


def test_clear_keeps_an_entry_being_built(tmp_path):
    cache = CompileCache(tmp_path)
    done, busy = cache_key("done"), cache_key("busy")
    cache.get(done, CountingBuild())
    cache.get(busy, CountingBuild())
    with filelock.FileLock(os.path.join(cache.entry_dir(busy), ".lock")):
        assert cache.clear() == 1
    assert not os.path.exists(cache.entry_dir(done))
    assert os.path.exists(cache.entry_dir(busy))
    assert cache.get(done, CountingBuild())  # rebuilt after the clear


def test_clear_touches_only_cache_entries(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "keep").write_text("mine too")
    cache = CompileCache(tmp_path)
    cache.get(cache_key("entry"), CountingBuild())
    assert cache.clear() == 1
    assert sorted(os.listdir(tmp_path)) == ["ab", "notes.txt"]
    assert os.listdir(tmp_path / "ab") == ["keep"]


def test_default_cache_follows_compiledir(tmp_path, monkeypatch):
    monkeypatch.setattr(ga.config, "compiledir", str(tmp_path / "one"))
    first = default_cache()
    assert first.root == str(tmp_path / "one") and default_cache() is first
    monkeypatch.setattr(ga.config, "compiledir", str(tmp_path / "two"))
    assert default_cache().root == str(tmp_path / "two")


def test_cli_info_and_clear(tmp_path):
    root = tmp_path / "cache"
    cache = CompileCache(root)
    for source in ("a", "b"):
        cache.get(cache_key(source), CountingBuild())
    env = {"GRAPHAD_FLAGS": f"compiledir={root}"}

    info = _python("-m", "graphad", "cache", "info", env=env)
    assert info.returncode == 0, info.stderr
    assert f"root:    {root}" in info.stdout
    assert "entries: 2" in info.stdout
    assert "size:    6.0 KiB" in info.stdout  # 2 x 3000 bytes plus two 65-byte checksums

    cleared = _python("-m", "graphad", "cache", "clear", env=env)
    assert cleared.returncode == 0, cleared.stderr
    assert f"removed 2 entries from {root}" in cleared.stdout
    assert cache.info()["entries"] == 0 and os.listdir(root) == []

    info = _python("-m", "graphad", "cache", "info", env=env)
    assert "entries: 0" in info.stdout and "size:    0 B" in info.stdout


def test_cli_unknown_command_prints_usage_and_exits_2(tmp_path):
    result = _python(
        "-m", "graphad", "cache", "prune", env={"GRAPHAD_FLAGS": f"compiledir={tmp_path}"}
    )
    assert result.returncode == 2
    assert "usage: python -m graphad cache" in result.stderr and "invalid choice" in result.stderr


def test_modules_built_against_other_headers_are_other_entries(tmp_path, monkeypatch):
    """Generated sources #include kernels/*.h: a module's key covers the headers' text, so
    an upgraded header never loads a module compiled against the old one."""
    from graphad.backend.c import module

    assert len(module.headers_digest()) == 64
    monkeypatch.setattr(ga.config, "compiledir", str(tmp_path))
    source = (
        '#include <Python.h>\n#include "graphad_philox.h"\n'
        'static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "hdr", NULL, -1, NULL};\n'
        "PyMODINIT_FUNC PyInit_hdr(void) { return PyModule_Create(&d); }\n"
    )
    built = []
    for digest in ("a" * 64, "b" * 64, "a" * 64):
        monkeypatch.setattr(module, "headers_digest", lambda d=digest: d)
        timings = {}
        module.build_module(source, name="hdr", timings=timings)
        built.append(timings["compiler"] > 0)
    assert built == [True, True, False]  # the third finds the first's entry
