"""The examples (examples/ and the README's tour) run as a user runs them.

Each runs in a child interpreter with this checkout first on its path, so it tests
the source tree whether or not graphad is installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_script(script, *args, cwd):
    """Run a Python script in a child interpreter; return its stdout, fail on error."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_mlp_digits_reaches_95_percent(tmp_path):
    pytest.importorskip("sklearn", reason="the example needs scikit-learn: pip install .[examples]")
    dump = tmp_path / "train_step.txt"
    out = run_script(REPO / "examples" / "mlp_digits.py", "--dump", dump, cwd=tmp_path)
    losses = [float(v) for v in re.findall(r"^epoch\s+\d+\s+loss\s+(\S+)$", out, re.M)]
    assert len(losses) >= 2, out
    assert losses[-1] < losses[0], f"the loss did not go down:\n{out}"
    match = re.search(r"^test accuracy: ([0-9.]+)", out, re.M)
    assert match, f"no 'test accuracy:' line in the output:\n{out}"
    assert float(match.group(1)) >= 0.95, out
    text = dump.read_text()
    assert "[grad]" in text and "W1" in text, text


def test_mlp_digits_with_dropout_trains_reproducibly(tmp_path):
    """Dropout masks come from a ga.RandomStream inside the compiled step: the same seed
    gives the same losses in another process, another seed other losses."""
    pytest.importorskip("sklearn", reason="the example needs scikit-learn: pip install .[examples]")
    script = REPO / "examples" / "mlp_digits.py"

    def losses(*args):
        out = run_script(script, "--epochs", "10", "--dropout", "0.2", *args, cwd=tmp_path)
        return re.findall(r"^epoch\s+\d+\s+loss\s+(\S+)$", out, re.M)

    first = losses()
    assert len(first) == 10 and float(first[-1]) < float(first[0])
    assert losses() == first
    assert losses("--seed", "1") != first


def test_readme_tour_runs(tmp_path):
    """The README's API tour is code a user pastes; it must keep working."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", readme, re.M | re.S)
    assert blocks, "README.md has no ```python block"
    script = tmp_path / "tour.py"
    script.write_text("\n".join(blocks))
    out = run_script(script, cwd=tmp_path)
    assert "[grad]" in out  # the dprint at its end shows the gradient nodes


def test_readme_picture_is_made_by_the_command_beside_it(tmp_path):
    """The README shows a real graph and the command that drew it; the command still
    draws that kind of picture, and the committed one shows fused kernels and [grad]."""
    pytest.importorskip("sklearn", reason="the example needs scikit-learn: pip install .[examples]")
    from tests.printing.tools import need

    need("dot", "apt-get install graphviz")
    readme = (REPO / "README.md").read_text()
    image = re.search(r"^!\[[^\]]*\]\((docs/[\w.]+\.svg)\)", readme, re.M)
    assert image, "README.md shows no picture of a graph"
    picture = image.group(1)
    after = readme[image.end() :]
    command = re.search(r"```sh\n(python (\S+) .*--dump (\S+))\n```", after)
    assert command and command.group(3) == picture, "no command beside the picture"
    script, *args = command.group(1).split()[1:]
    out = tmp_path / "picture.svg"
    args[args.index(picture)] = str(out)
    proc = subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.exists(), proc.stderr
    for svg in (out.read_text(), (REPO / picture).read_text()):
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        assert "fused kernel" in svg and "[grad]" in svg and "update of W1" in svg
