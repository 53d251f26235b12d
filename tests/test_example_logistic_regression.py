"""examples/logistic_regression.py runs as a user runs it and reaches what it promises."""

from __future__ import annotations

import re

import pytest

from tests.test_examples import REPO, run_script


def test_logistic_regression_checks_gradients_and_learns(tmp_path):
    pytest.importorskip("sklearn", reason="the example needs scikit-learn: pip install .[examples]")
    dump = tmp_path / "lr.txt"
    out = run_script(REPO / "examples" / "logistic_regression.py", "--dump", dump, cwd=tmp_path)

    for label in ("binary", "10-class"):
        pattern = rf"^{re.escape(label)}\s+epoch\s+\d+\s+loss\s+(\S+)$"
        losses = [float(v) for v in re.findall(pattern, out, re.M)]
        assert len(losses) >= 2, out
        assert losses[-1] < losses[0], f"the {label} loss did not go down:\n{out}"

    match = re.search(r"^gradient check: max \|graphad - closed form\| = (\S+)$", out, re.M)
    assert match, f"no 'gradient check:' line in the output:\n{out}"
    assert float(match.group(1)) < 1e-10, out

    accuracies = dict(re.findall(r"^(binary|10-class) test accuracy: ([0-9.]+)", out, re.M))
    assert set(accuracies) == {"binary", "10-class"}, out
    assert float(accuracies["binary"]) >= 0.95, out
    assert float(accuracies["10-class"]) >= 0.93, out

    text = dump.read_text()
    assert "[grad]" in text and "W" in text, text
