"""Perplexity, and the ``Score`` every language model in chainrule returns.

All models count tokens the same way, so their perplexities can be compared:
each word of a sentence is one token and so is the end of the sentence
(``</s>``); the start ``<s>`` is context only and never counted. Log
probabilities are natural logs, so ``total_nll`` is in nats.
"""
import math
from typing import NamedTuple


def perplexity(total_nll, n_tokens):
    """exp(total_nll / n_tokens): the geometric mean of 1 / p over the tokens."""
    if n_tokens <= 0:
        raise ValueError(f"perplexity of no tokens is undefined (n_tokens={n_tokens})")
    return exp_mean_nll(total_nll / n_tokens)


def exp_mean_nll(mean_nll):
    """exp of a mean NLL: inf past 709.78 nats, where ``math.exp`` overflows (a diverged model)."""
    return math.inf if mean_nll > 709.78 else math.exp(mean_nll)


class Score(NamedTuple):
    """Total negative log-likelihood (nats) of ``n_tokens`` tokens.

    A tuple, so ``nll, n = model.score(sentences)`` works; ``.ppl`` is the
    perplexity. Scores of separate batches add up: ``sum(scores, Score.zero())``.
    """
    total_nll: float
    n_tokens: int

    @property
    def ppl(self):
        return perplexity(self.total_nll, self.n_tokens)

    @property
    def mean_nll(self):
        if self.n_tokens == 0:
            raise ValueError("the mean NLL of no tokens is undefined")
        return self.total_nll / self.n_tokens

    @classmethod
    def zero(cls):
        return cls(0.0, 0)

    def __add__(self, other):
        if not isinstance(other, Score):
            return NotImplemented
        return Score(self.total_nll + other.total_nll, self.n_tokens + other.n_tokens)

    def __radd__(self, other):
        # sum() starts from the integer 0.
        if other == 0:
            return self
        return NotImplemented

    def __repr__(self):
        ppl = f"{self.ppl:.4g}" if self.n_tokens else "nan"
        return f"Score(total_nll={self.total_nll:.6g}, n_tokens={self.n_tokens}, ppl={ppl})"
