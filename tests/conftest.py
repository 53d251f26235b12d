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
