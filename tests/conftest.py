"""Shared test set-up: reproducible random numbers and CI-friendly Hypothesis settings."""
import os
import sys

import pytest

import chainrule as cr

# tests/helpers.py and tests/weights.py are imported as plain modules by the tests that need them.
sys.path.insert(0, os.path.dirname(__file__))

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # Hypothesis is a dev dependency; tests that need it import it themselves.
    pass
else:
    # CI has 2 shared cores, so timing-based failures would be noise: no deadline.
    settings.register_profile("chainrule", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("chainrule")


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same chainrule random state (weights, dropout masks)."""
    cr.manual_seed(0)
    yield
