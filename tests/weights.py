"""Snapshots of a model's weights, for tests that compare runs (resume, determinism)."""
import numpy as np


def weights(model):
    """A copy of every entry of ``model.state_dict()``."""
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same_weights(a, b):
    """Two snapshots hold the same names and bit-identical values."""
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
