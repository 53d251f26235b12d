"""The external programs the dump tests drive (Graphviz's dot, Chromium), and checks
of the files they make.

Locally a missing program skips its tests with the install command. In CI (CI=true)
`.ci/run` installs both, so a missing one fails the test instead of hiding it.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def need(program, install):
    """The path of ``program``; skip (fail under CI) when it is missing."""
    found = shutil.which(program)
    if found is None:
        missing(f"{program} is not installed ({install})")
    return found


def missing(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must install it: {reason}")
    pytest.skip(reason)


def chromium():
    """A Playwright browser running Debian's Chromium headless (a context manager)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install .[test])")
    return _Browser(sync_playwright, path)


class _Browser:
    def __init__(self, sync_playwright, path):
        self._start, self._path = sync_playwright, path

    def __enter__(self):
        self._manager = self._start()
        driver = self._manager.__enter__()
        self.browser = driver.chromium.launch(executable_path=self._path, args=CHROMIUM_FLAGS)
        return self.browser

    def __exit__(self, *exc):
        self.browser.close()
        self._manager.__exit__(*exc)


def image_colours(path_or_bytes):
    """(width, height, number of distinct colours, fraction of pixels that differ from
    the most common colour) of a PNG."""
    import io

    from PIL import Image

    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as image:
        rgb = image.convert("RGB")
        counts = rgb.getcolors(maxcolors=1 << 24)
        width, height = rgb.size
    background = max(c for c, _ in counts)
    return width, height, len(counts), 1 - background / (width * height)
