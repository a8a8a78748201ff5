"""The linear mixture of two language models and the tuning of its weight."""
import numpy as np
import pytest

from chainrule.models.mixture import Mixture, mean_nll, mix_log_probs, tune_weight


def test_mix_is_the_linear_interpolation():
    a = np.log([0.5, 0.1, 0.9])
    b = np.log([0.1, 0.3, 0.05])
    np.testing.assert_allclose(np.exp(mix_log_probs(a, b, 0.25)), 0.25 * np.exp(a) + 0.75 * np.exp(b))
    np.testing.assert_array_equal(mix_log_probs(a, b, 1.0), a)
    np.testing.assert_array_equal(mix_log_probs(a, b, 0.0), b)
    # Stable where exp would underflow to 0.
    tiny = np.array([-2000.0])
    assert np.isfinite(mix_log_probs(tiny, tiny - 5, 0.5)).all()


def test_tuned_weight_matches_a_fine_grid():
    rng = np.random.default_rng(0)
    a = np.log(rng.uniform(0.01, 1, 500))
    b = np.log(rng.uniform(0.01, 1, 500))
    w, nll = tune_weight(a, b)
    grid = np.linspace(0, 1, 2001)
    values = [mean_nll(a, b, g) for g in grid]
    assert abs(w - grid[int(np.argmin(values))]) < 2e-3
    assert nll <= min(values) + 1e-9


def test_mixture_never_worse_than_either_model_on_its_tuning_data():
    rng = np.random.default_rng(1)
    a = np.log(rng.uniform(0.001, 1, 300))
    b = np.log(rng.uniform(0.001, 1, 300))
    mix = Mixture().fit(a, b)
    nll = -mix.log_probs(a, b).mean()
    assert nll <= min(-a.mean(), -b.mean()) + 1e-12
    assert 0 < mix.weight < 1  # two independent noisy models: both help


def test_a_useless_model_gets_weight_zero():
    good = np.log(np.full(50, 0.5))
    useless = np.log(np.full(50, 1e-6))
    w, _ = tune_weight(useless, good)
    assert w == 0.0
    w, _ = tune_weight(good, useless)
    assert w == 1.0


def test_mismatched_token_counts_are_an_error():
    with pytest.raises(ValueError, match="different numbers of tokens"):
        mix_log_probs(np.zeros(3), np.zeros(4), 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Mixture(1.5)


def test_tuning_refuses_a_tolerance_that_never_ends_and_nan():
    a, b = np.log([0.5, 0.2]), np.log([0.1, 0.4])
    for tol in (0, -1e-3):
        with pytest.raises(ValueError, match="tol must be positive"):
            tune_weight(a, b, tol=tol)
    with pytest.raises(ValueError, match="NaN"):
        tune_weight([np.nan, -1.0, -1.0], [-2.0, -3.0, -3.0])


def test_a_token_both_models_rule_out_does_not_decide_the_weight():
    # Both give the first token probability 0: every weight's NLL is inf, and the weight used to be 0.
    a, b = [-np.inf, -1.0, -5.0], [-np.inf, -3.0, -0.1]
    weight, nll = tune_weight(a, b)
    expected, _ = tune_weight(a[1:], b[1:])
    assert weight == expected and 0 < weight < 1 and nll == np.inf
