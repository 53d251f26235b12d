"""The HTML view in a real browser: headless Chromium driven by Playwright opens the page
from disk, a node is clicked and its details appear, pan/zoom/search work, a screenshot
is a picture, and a 5,000-node graph stays usable."""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphad as ga
from graphad.printing import write_graph

from .tools import chromium, image_colours

HERE = os.path.basename(__file__)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _open(browser, path, width=1280, height=800):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(f"file://{path}")
    page.wait_for_selector("body[data-ready='1']")
    page.errors = errors
    return page


def _bring_into_view(page, node_id):
    """Centre the node (as following a link in the panel does), for a real click."""
    page.evaluate(f"centre(byId.get({node_id!r}))")


def _mlp_step():
    x = ga.matrix("x")
    y = ga.vector("y", dtype="int64")
    w1 = ga.shared(np.zeros((8, 16)), name="W1")
    w2 = ga.shared(np.zeros((16, 3)), name="W2")
    h = ga.tanh(x @ w1)
    loss = ga.categorical_crossentropy(ga.softmax(h @ w2), y).mean()
    g1, g2 = ga.grad(loss, [w1, w2])
    return ga.function([x, y], loss, updates=[(w1, w1 - 0.1 * g1), (w2, w2 - 0.1 * g2)])


def test_clicking_a_fused_kernel_shows_its_details(browser, tmp_path):
    f = _mlp_step()
    path = write_graph(f, tmp_path / "step.html")
    page = _open(browser, path)
    fused = page.locator("g.node.fused")
    assert fused.count() >= 2
    node_id = fused.nth(0).get_attribute("data-id")
    _bring_into_view(page, node_id)
    page.locator(f'g.node[data-id="{node_id}"]').click()
    assert "selected" in page.locator(f'g.node[data-id="{node_id}"]').get_attribute("class")
    details = page.inner_text("#details")
    for expected in ("fused kernel", "fused ops", "computes", "user line", HERE, "C kernel"):
        assert expected in details, (expected, details)
    steps = page.locator("#steps")
    assert not steps.evaluate("e => e.open")
    page.click("#steps summary")  # the fused kernel's steps expand
    assert steps.evaluate("e => e.open")
    assert "return " in page.inner_text("#steps")
    assert page.url.endswith(f"#{node_id}")
    shot = tmp_path / "step.png"
    page.screenshot(path=str(shot))
    width, height, colours, ink = image_colours(str(shot))
    assert (width, height) == (1280, 800)
    assert colours > 16 and ink > 0.05, "the screenshot is not blank"
    assert not page.errors


def test_clicking_a_variable_and_following_its_reader(browser, tmp_path):
    path = write_graph(_mlp_step(), tmp_path / "step.html")
    page = _open(browser, path)
    shared = page.locator("g.node.shared").nth(0)
    node_id = shared.get_attribute("data-id")
    _bring_into_view(page, node_id)
    shared.click()
    details = page.inner_text("#details")
    assert "shared" in details and "float64" in details and "read by" in details
    page.locator("#details a[data-go]").last.click()  # to a node that reads it
    assert page.locator("g.node.selected").get_attribute("data-id") != node_id
    assert not page.errors


def test_pan_zoom_and_search(browser, tmp_path):
    path = write_graph(_mlp_step(), tmp_path / "step.html")
    page = _open(browser, path)

    def transform():
        return page.get_attribute("#scene", "transform")

    before = transform()
    page.mouse.move(200, 400)
    page.mouse.wheel(0, -400)
    page.wait_for_function(
        f"document.getElementById('scene').getAttribute('transform') != {before!r}"
    )
    zoomed = transform()
    page.mouse.move(100, 700)  # below the graph's nodes: drags the background
    page.mouse.down()
    page.mouse.move(300, 600, steps=5)
    page.mouse.up()
    assert transform() != zoomed
    page.fill("#search", "W2")
    page.press("#search", "Enter")
    assert page.locator("g.node.match").count() >= 1
    assert "W2" in page.inner_text("#details")
    page.click("#fit")
    assert not page.errors


def test_a_graph_of_5000_nodes_stays_usable(browser, tmp_path):
    x = ga.vector("x")
    y = x
    for i in range(1700):  # 3 ops per round: 5,100 Apply nodes
        y = ga.tanh(y * 1.01 + x) if i % 2 else ga.exp(-y) + x
    path = write_graph(y, tmp_path / "big.html")
    page = _open(browser, path)
    assert page.locator("g.node.apply").count() >= 5000
    target = page.locator("g.node.apply").nth(2600)
    node_id = target.get_attribute("data-id")
    _bring_into_view(page, node_id)
    target.click()
    assert page.locator("g.node.selected").get_attribute("data-id") == node_id
    assert "user line" in page.inner_text("#details")
    assert not page.errors
