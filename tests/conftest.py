"""Fixtures shared by the whole suite."""

import pytest

import graphad as ga
from tests.util import MODES

# graphad's own tests lint after every rewrite pass and let a failing rule raise
ga.config.rewrite_checks = True


@pytest.fixture(params=MODES)
def mode(request):
    """Each mode whose backend a test should run on."""
    return request.param


@pytest.fixture
def emulated_cuda(tmp_path, monkeypatch):
    """``device=cuda`` on the host emulation of a GPU (tests/backend/cuda_device.py)
    for the functions the test compiles; the fixture's value is the device."""
    from tests.backend.cuda_device import EmulatedDevice, on_device

    with on_device(EmulatedDevice(tmp_path)) as device:
        yield device
