"""The speed benchmark's hand-written NumPy NPLM step against chainrule's.

``benchmarks/_speed_models.make_numpy_by_hand`` writes the NPLM/SGD training
step out by hand (forward, the backward of every layer, the update) to show
what the engine itself costs. Its losses must follow chainrule's step for
step: that keeps the benchmark's reference honest, and it checks chainrule's
whole step (linear, tanh, embedding, fused cross-entropy, SGD) against an
independent derivation.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "_speed_models.py"


@pytest.fixture(scope="module")
def models():
    spec = importlib.util.spec_from_file_location("_speed_models", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hand_written_nplm_step_follows_chainrule(models):
    ours = models.make_chainrule("nplm", "sgd", dropout=False)
    by_hand = models.make_numpy_by_hand("nplm", "sgd")
    steps = 10  # the benchmark cycles through 8 batches, so steps 9 and 10 see batches again
    a = [models.loss_value(ours()) for _ in range(steps)]
    b = [models.loss_value(by_hand()) for _ in range(steps)]
    np.testing.assert_allclose(b, a, rtol=1e-6)
    assert a[-1] < a[0] - 0.01  # the updates did something, so a wrong gradient would show


def test_references_refuse_workloads_they_do_not_have(models):
    with pytest.raises(ValueError, match="NPLM/SGD"):
        models.make_numpy_by_hand("nplm", "adam")
    with pytest.raises(ValueError, match="NPLM step"):
        models.make_blas_products("textcnn", "sgd")
