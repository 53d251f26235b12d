"""Packaging: the wheel carries every subpackage and kernels/, and kernels/ compiles.

The install test builds a wheel of this checkout and installs it, offline, into a
fresh virtual environment that has no pip and no copy of the source tree, then asks
the installed graphad where its kernels are.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
KERNELS = REPO / "kernels"
KERNEL_SOURCES = sorted(p for p in KERNELS.iterdir() if p.suffix in (".h", ".c", ".cu"))

# Not copied into the scratch build: version control, environments, build leftovers.
_COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".ci-venv",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    ".benchmarks",
)


def _version(dist):
    try:
        return tuple(int(p) for p in metadata.version(dist).split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return None


def _require_build_tools():
    """Skip (with the fix) when this interpreter cannot build a wheel offline."""
    setuptools = _version("setuptools")
    if setuptools is None or setuptools < (64, 0):
        pytest.skip("needs setuptools>=64 to build the wheel: pip install -e .[test]")
    if setuptools < (70, 1) and _version("wheel") is None:
        pytest.skip("needs the wheel package to build with this setuptools: pip install wheel")
    pip = _version("pip")
    if pip is None or pip < (22, 3):
        pytest.skip("needs pip>=22.3 for `pip --python` into a venv without pip")


def _run(cmd, **kwargs):
    """Run ``cmd``; on failure, fail the test with its full output. Returns stdout."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def _source_packages():
    """graphad's subpackages as the source tree has them (folders with __init__.py)."""
    found = {"graphad.kernels"}
    for init in (REPO / "graphad").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(REPO).parts))
    return found


def test_setup_cfg_lists_every_subpackage():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    missing = sorted(_source_packages() - listed)
    assert not missing, f"add {missing} to `packages` under [options] in setup.cfg"
    stale = sorted(listed - _source_packages())
    assert not stale, f"setup.cfg lists packages that do not exist: {stale}"


def test_wheel_install_into_fresh_venv_finds_kernels(tmp_path):
    _require_build_tools()
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=_COPY_IGNORE)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    offline = ["--no-index", "--no-deps", "--no-build-isolation", "--quiet"]
    _run([*pip, "wheel", *offline, "-w", tmp_path / "dist", src])
    (wheel,) = (tmp_path / "dist").glob("graphad-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    bindir = "Scripts" if os.name == "nt" else "bin"
    python = str(venv / bindir / ("python.exe" if os.name == "nt" else "python"))
    _run([*pip, "--python", python, "install", *offline, wheel])

    # numpy & co. come from this interpreter's site-packages, appended by a .pth file
    # AFTER the venv's own site-packages, so only the installed graphad can be found.
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    site = site.strip()
    numpy_site = Path(np.__file__).resolve().parent.parent
    (Path(site) / "_host_site_packages.pth").write_text(f"{numpy_site}\n")
    probe = textwrap.dedent(
        """
        import json, os
        import graphad as ga
        from graphad.backend import kernels_dir
        x = ga.vector("x")
        value = ga.function([x], (x * 2).sum())([1.0, 2.0])
        print(json.dumps({"file": ga.__file__, "kernels": kernels_dir(),
                          "listing": sorted(os.listdir(kernels_dir())),
                          "value": float(value)}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONNOUSERSITE"] = "1"
    out = _run([python, "-c", probe], cwd=tmp_path, env=env)
    found = json.loads(out.strip().splitlines()[-1])

    site = Path(site).resolve()
    assert Path(found["file"]).resolve().is_relative_to(site), found
    assert Path(found["kernels"]).resolve() == site / "graphad" / "kernels", found
    assert "graphad_runtime.h" in found["listing"], found
    assert found["value"] == 6.0
    shipped = {p.name for p in KERNEL_SOURCES}
    assert shipped <= set(found["listing"]), f"kernels/ files missing from the wheel: {found}"
    installed = {p.relative_to(site) for p in (site / "graphad").rglob("*.py")}
    source = {p.relative_to(src) for p in (src / "graphad").rglob("*.py")}
    assert not source - installed, f"modules missing from the wheel: {sorted(source - installed)}"


@pytest.mark.parametrize("source", KERNEL_SOURCES, ids=lambda p: p.name)
def test_kernel_source_compiles_alone(source, tmp_path):
    """Every file in kernels/ compiles on its own: C with the host compiler, CUDA with nvcc.

    Headers are shared by the C and CUDA renderers, so they go through both, except
    the host-only ones that use Python's C API (the thread pool's).
    """
    ran = False
    host_only = "#include <Python.h>" in source.read_text()
    if source.suffix in (".h", ".c"):
        cc = os.environ.get("CC") or shutil.which("cc")
        if cc is None:
            pytest.skip("no host C compiler (cc) on PATH")
        language = "c-header" if source.suffix == ".h" else "c"
        _run(
            [
                cc,
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-fsyntax-only",
                f"-I{sysconfig.get_paths()['include']}",
                f"-I{np.get_include()}",
                "-x",
                language,
                str(source),
            ]
        )
        ran = True
    if source.suffix in (".h", ".cu") and not host_only:
        nvcc = shutil.which("nvcc")
        if nvcc is not None:
            _run(
                [
                    nvcc,
                    "--ptx",
                    "-Werror",
                    "all-warnings",
                    "-x",
                    "cu",
                    str(source),
                    "-o",
                    str(tmp_path / "out.ptx"),
                ]
            )
            ran = True
        elif not ran:
            pytest.skip("nvcc not on PATH: CUDA sources are compile-checked only where it is")


# (a, b) pairs covering signs, zero divisors and MIN // -1; NumPy is the oracle.
_DIVISION_CASES = [
    (a, b)
    for a in (-7, -6, -1, 0, 1, 6, 7, "MIN", "MAX")
    for b in (-7, -2, -1, 0, 1, 2, 7, "MIN", "MAX")
]


@pytest.mark.parametrize("bits", [32, 64])
def test_runtime_integer_division_matches_numpy(bits, tmp_path):
    """graphad_runtime.h's floordiv/mod give NumPy's results, zero divisors and MIN // -1."""
    cc = os.environ.get("CC") or shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler (cc) on PATH")
    info = np.iinfo(f"int{bits}")
    special = {"MIN": int(info.min), "MAX": int(info.max)}
    pairs = [(special.get(a, a), special.get(b, b)) for a, b in _DIVISION_CASES]
    rows = "\n".join(f"    {{INT{bits}_C({a}), INT{bits}_C({b})}}," for a, b in pairs)
    rows = rows.replace(f"INT{bits}_C({info.min})", f"INT{bits}_MIN")
    program = tmp_path / "division.c"
    program.write_text(
        f'#include <inttypes.h>\n#include <stdio.h>\n#include "graphad_runtime.h"\n'
        f"static const int{bits}_t cases[][2] = {{\n{rows}\n}};\n"
        "int main(void) {\n"
        "    size_t i;\n"
        "    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)\n"
        f'        printf("%" PRId{bits} " %" PRId{bits} "\\n",\n'
        f"               graphad_floordiv_i{bits}(cases[i][0], cases[i][1]),\n"
        f"               graphad_mod_i{bits}(cases[i][0], cases[i][1]));\n"
        "    return 0;\n}\n"
    )
    exe = tmp_path / "division"
    # -ftrapv: a signed overflow the header fails to avoid aborts instead of wrapping.
    _run(
        [
            cc,
            "-std=c99",
            "-Wall",
            "-Werror",
            "-ftrapv",
            "-I",
            str(KERNELS),
            str(program),
            "-o",
            str(exe),
        ]
    )
    got = [tuple(map(int, line.split())) for line in _run([exe]).split("\n") if line]
    a = np.array([p[0] for p in pairs], dtype=info.dtype)
    b = np.array([p[1] for p in pairs], dtype=info.dtype)
    with np.errstate(all="ignore"):
        want = list(zip((a // b).tolist(), (a % b).tolist()))
    assert got == want, [(p, g, w) for p, g, w in zip(pairs, got, want) if g != w]
