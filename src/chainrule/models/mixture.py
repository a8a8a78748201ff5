"""Linear interpolation of two language models: p(w|h) = lam p_a(w|h) + (1 - lam) p_b(w|h).

Bengio et al. (2003) mixed their neural model with an interpolated Kneser-Ney
model this way, with lam = 0.5, and found the mixture better than either. The
models make different mistakes: the n-gram model is sharp on frequent exact
contexts, the neural one generalises across similar words.

The mixture works on per-token log-probabilities, so any two models that
score the same tokens in the same order can be mixed. The validation
negative log-likelihood is a convex function of lam (minus the log of a
function linear in lam), so a golden-section search over [0, 1] finds the
best weight.
"""
import math

import numpy as np

_GOLDEN = (math.sqrt(5) - 1) / 2


def mix_log_probs(logp_a, logp_b, weight):
    """log(weight * exp(logp_a) + (1 - weight) * exp(logp_b)), elementwise and stable."""
    logp_a, logp_b = _check_pair(logp_a, logp_b)
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"mixture weight must be in [0, 1], got {weight}")
    if weight == 1.0:
        return logp_a.copy()
    if weight == 0.0:
        return logp_b.copy()
    return np.logaddexp(math.log(weight) + logp_a, math.log1p(-weight) + logp_b)


def mean_nll(logp_a, logp_b, weight):
    return float(-mix_log_probs(logp_a, logp_b, weight).mean())


def tune_weight(logp_a, logp_b, tol=1e-4):
    """The weight in [0, 1] on ``logp_a`` minimising the mean NLL of the mixture, by golden-section search.

    Returns ``(weight, mean_nll)``. The ends 0 and 1 are compared too, so a
    model that adds nothing gets weight 0 rather than a tiny positive one.
    Tokens that both models give probability 0 make every mixture's NLL
    infinite, whatever the weight: the weight is tuned on the other tokens
    (the NLL returned still counts them all).
    """
    if not tol > 0:
        raise ValueError(f"tune_weight: tol must be positive, got {tol} (the search would never end)")
    logp_a, logp_b = _check_pair(logp_a, logp_b)
    if logp_a.size == 0:
        raise ValueError("tune_weight: no tokens to tune the mixture weight on")
    if np.isnan(logp_a).any() or np.isnan(logp_b).any():
        raise ValueError("tune_weight: a log-probability is NaN; the mixture weight cannot be tuned on it")
    both_zero = np.isneginf(logp_a) & np.isneginf(logp_b)
    if both_zero.all():
        return 0.5, float("inf")
    if both_zero.any():
        weight, _ = tune_weight(logp_a[~both_zero], logp_b[~both_zero], tol)
        return weight, mean_nll(logp_a, logp_b, weight)
    lo, hi = 0.0, 1.0
    x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    f1, f2 = mean_nll(logp_a, logp_b, x1), mean_nll(logp_a, logp_b, x2)
    while hi - lo > tol:
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - _GOLDEN * (hi - lo)
            f1 = mean_nll(logp_a, logp_b, x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + _GOLDEN * (hi - lo)
            f2 = mean_nll(logp_a, logp_b, x2)
    candidates = [(f1, x1), (f2, x2), (mean_nll(logp_a, logp_b, 0.0), 0.0), (mean_nll(logp_a, logp_b, 1.0), 1.0)]
    best_nll, best_w = min(candidates)
    return best_w, best_nll


class Mixture:
    """A mixture weight and what it was tuned on.

        mix = Mixture().fit(neural_valid_logp, kn_valid_logp)   # tunes mix.weight
        test_logp = mix.log_probs(neural_test_logp, kn_test_logp)
    """

    def __init__(self, weight=0.5):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"mixture weight must be in [0, 1], got {weight}")
        self.weight = float(weight)

    def fit(self, logp_a, logp_b, tol=1e-4):
        self.weight, _ = tune_weight(logp_a, logp_b, tol)
        return self

    def log_probs(self, logp_a, logp_b):
        return mix_log_probs(logp_a, logp_b, self.weight)

    def __repr__(self):
        return f"Mixture(weight={self.weight:.4f})"


def _check_pair(logp_a, logp_b):
    a = np.asarray(logp_a, dtype=np.float64)
    b = np.asarray(logp_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"the two models scored different numbers of tokens: {a.shape} vs {b.shape}; "
                         f"a mixture needs the same tokens in the same order")
    return a, b
