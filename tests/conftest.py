"""Fixtures shared by the whole suite."""

import pytest

from tests.util import MODES


@pytest.fixture(params=MODES)
def mode(request):
    """Each mode whose backend a test should run on."""
    return request.param
