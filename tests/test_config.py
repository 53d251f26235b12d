"""Tests for ga.config and the GRAPHAD_FLAGS environment variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import graphad as ga

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What a child interpreter reports about its configuration.
REPORT = textwrap.dedent(
    """
    import json
    import graphad as ga
    print(json.dumps({
        "floatX": ga.config.floatX,
        "device": ga.config.device,
        "mode": ga.config.mode,
        "vector": ga.vector("x").dtype,
        "matrix": ga.matrix("m").dtype,
        "scalar": ga.scalar("s").dtype,
        "explicit": ga.vector("i", dtype="int32").dtype,
    }))
    """
)


def _child(code, flags=None):
    """Run ``code`` in a fresh interpreter with GRAPHAD_FLAGS set to ``flags`` (unset if
    None); return the CompletedProcess."""
    env = dict(os.environ)
    env.pop("GRAPHAD_FLAGS", None)
    if flags is not None:
        env["GRAPHAD_FLAGS"] = flags
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _report(flags=None):
    proc = _child(REPORT, flags)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def restore_config():
    saved = {name: getattr(ga.config, name) for name in ("floatX", "device", "mode")}
    yield ga.config
    for name, value in saved.items():
        setattr(ga.config, name, value)


# --- defaults ----------------------------------------------------------------------------


def test_defaults_without_flags():
    report = _report(None)
    assert report["floatX"] == "float64"
    assert report["device"] == "cpu"
    assert report["mode"] == "FAST_RUN"
    assert report["vector"] == report["matrix"] == report["scalar"] == "float64"
    assert report["explicit"] == "int32"


def test_empty_flags_are_the_defaults():
    assert _report("") == _report(None)


# --- GRAPHAD_FLAGS -----------------------------------------------------------------------


def test_flags_set_device_and_floatx():
    report = _report("device=cuda,floatX=float32")
    assert report["device"] == "cuda"
    assert report["floatX"] == "float32"
    assert report["mode"] == "FAST_RUN"
    assert report["vector"] == report["matrix"] == report["scalar"] == "float32"
    assert report["explicit"] == "int32"


def test_flags_tolerate_spaces_and_empty_entries():
    report = _report(" floatX = float32 , , mode=FAST_COMPILE,")
    assert report["floatX"] == "float32"
    assert report["mode"] == "FAST_COMPILE"
    assert report["device"] == "cpu"


def test_flags_mode_is_used_by_function():
    code = textwrap.dedent(
        """
        import numpy as np
        import graphad as ga
        x = ga.vector("x")
        f = ga.function([x], ga.log(x))
        try:
            f(np.array([-1.0]))
        except FloatingPointError as exc:
            print("raised", type(exc).__name__)
        else:
            print("no error")
        """
    )
    proc = _child(code, "mode=DEBUG")
    assert proc.returncode == 0, proc.stderr
    assert "raised" in proc.stdout
    proc = _child(code, "mode=FAST_COMPILE")
    assert proc.returncode == 0, proc.stderr
    assert "no error" in proc.stdout


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        pytest.param("floatX", ["floatX"], id="no-equals"),
        pytest.param("floatX=float16", ["floatX", "float16", "float32", "float64"], id="value"),
        pytest.param("device=tpu", ["device", "tpu", "cpu", "cuda"], id="device"),
        pytest.param("mode=FASTEST", ["mode", "FASTEST", "FAST_RUN"], id="mode"),
        pytest.param("flaotX=float32", ["flaotX", "floatX"], id="unknown-name"),
    ],
)
def test_malformed_flags_raise_a_clear_error(flags, words):
    proc = _child("import graphad", flags)
    assert proc.returncode != 0
    assert "ConfigError" in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    # the user did not write this at an import line: the message says where it came from
    for word in ["GRAPHAD_FLAGS", *words]:
        assert word in last, last
    # a clean error, not a crash
    assert proc.returncode == 1


# --- setting options at run time ---------------------------------------------------------


def test_set_floatx_changes_new_variables(restore_config):
    ga.config.floatX = "float32"
    assert ga.config.floatX == "float32"
    assert ga.vector("x").dtype == "float32"
    assert ga.tensor("t", shape=(None, 2)).dtype == "float32"
    assert ga.vector("i", dtype="int64").dtype == "int64"
    ga.config.floatX = "float64"
    assert ga.vector("x").dtype == "float64"


def test_set_mode_and_device(restore_config):
    ga.config.mode = "FAST_COMPILE"
    assert ga.config.mode == "FAST_COMPILE"
    ga.config.device = "cuda"
    assert ga.config.device == "cuda"
    ga.config.device = "cpu"
    assert ga.config.device == "cpu"


def test_config_mode_is_the_function_default(restore_config):
    import numpy as np

    x = ga.vector("x")
    ga.config.mode = "DEBUG"
    f = ga.function([x], ga.log(x))
    with pytest.raises(FloatingPointError), np.errstate(all="ignore"):
        f(np.array([-1.0]))
    ga.config.mode = "FAST_COMPILE"
    g = ga.function([x], ga.log(x))
    with np.errstate(all="ignore"):
        assert np.isnan(g(np.array([-1.0]))[0])


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("floatX", "float16", ["float32", "float64"]),
        ("floatX", "int32", ["float32", "float64"]),
        ("device", "gpu", ["cpu", "cuda"]),
        ("mode", "FAST", ["FAST_RUN", "FAST_COMPILE", "DEBUG"]),
    ],
)
def test_set_invalid_value_raises(restore_config, name, value, allowed):
    before = getattr(ga.config, name)
    with pytest.raises(ga.ConfigError) as info:
        setattr(ga.config, name, value)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert name in message and value in message
    for option in allowed:
        assert option in message, message
    assert getattr(ga.config, name) == before


def test_set_unknown_option_raises():
    with pytest.raises(ga.ConfigError) as info:
        ga.config.flaotX = "float32"
    assert isinstance(info.value, ValueError)
    assert "flaotX" in str(info.value)
    assert "floatX" in str(info.value)


def test_read_unknown_option_raises():
    with pytest.raises(AttributeError) as info:
        _ = ga.config.no_such_option
    assert "no_such_option" in str(info.value)


def test_config_error_is_a_graphad_value_error():
    assert issubclass(ga.ConfigError, ValueError)
    assert issubclass(ga.ConfigError, ga.GraphadError)
