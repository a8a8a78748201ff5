"""A bag-of-n-grams logistic regression: the linear baseline for sentence classification.

Each sentence is the set of its word n-grams (by default unigrams and
bigrams, present or absent, as in Wang & Manning (2012)'s baselines); the
model is multinomial logistic regression on those binary features:

    logits = sum of W[g] over the sentence's n-grams g + b

Written as an embedding lookup and a sum, so a sentence costs its number of
n-grams rather than the size of the n-gram vocabulary, and the weight
gradient touches only the rows a batch uses.
"""
import numpy as np

from .. import functional as F
from .. import nn
from ..nn.parameter import Parameter

PAD_ID = 0  # row 0 of the table is padding: zero weight, never updated


def ngrams(tokens, n_max):
    """The distinct n-grams (1 <= n <= n_max) of a token list, as space-joined strings, in order of appearance."""
    seen = {}
    for n in range(1, n_max + 1):
        for i in range(len(tokens) - n + 1):
            seen.setdefault(" ".join(tokens[i:i + n]), None)
    return list(seen)


class NgramFeaturizer:
    """Maps sentences (token lists) to padded arrays of n-gram ids, with an n-gram vocabulary from training data.

    ``n``: the longest n-gram; ``min_count``: n-grams in fewer training
    sentences are dropped (unseen n-grams are simply absent: a linear model
    needs no ``<unk>``).
    """

    def __init__(self, n=2, min_count=1, lower=True):
        self.n, self.min_count, self.lower = int(n), int(min_count), bool(lower)
        if self.n < 1:
            raise ValueError(f"NgramFeaturizer: n is the longest n-gram, at least 1; got {n}")
        self.index = None

    def _grams(self, tokens):
        if isinstance(tokens, str):  # its n-grams would be of characters
            raise TypeError(f"NgramFeaturizer: expected token lists, got the string {tokens[:40]!r}; tokenize first")
        return ngrams([t.lower() for t in tokens] if self.lower else list(tokens), self.n)

    def fit(self, token_lists):
        counts = {}
        for tokens in token_lists:
            for g in self._grams(tokens):
                counts[g] = counts.get(g, 0) + 1
        kept = sorted(g for g, c in counts.items() if c >= self.min_count)
        if not kept:
            raise ValueError(f"NgramFeaturizer: no n-gram occurs in {self.min_count} or more training sentences")
        self.index = {g: i for i, g in enumerate(kept, start=1)}
        return self

    @property
    def num_features(self):
        """Rows of the weight table: the n-grams plus the padding row."""
        if self.index is None:
            raise RuntimeError("NgramFeaturizer: call fit() on training sentences first")
        return len(self.index) + 1

    def transform(self, token_lists):
        """(N, M) int64 ids of each sentence's known n-grams, padded with 0 to the longest."""
        if self.index is None:
            raise RuntimeError("NgramFeaturizer: call fit() before transform()")
        rows = [[self.index[g] for g in self._grams(toks) if g in self.index] for toks in token_lists]
        width = max(1, max((len(r) for r in rows), default=1))
        out = np.zeros((len(rows), width), np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return out


class BagOfNgrams(nn.Module):
    """Logistic regression on binary n-gram features: ids (N, M) padded with 0 -> logits (N, C)."""

    def __init__(self, num_features, num_classes):
        super().__init__()
        self.weight = Parameter(np.zeros((num_features, num_classes), np.float32))
        self.bias = Parameter(np.zeros(num_classes, np.float32))

    def forward(self, ids):
        shape = tuple(getattr(ids, "shape", np.shape(ids)))
        if len(shape) != 2:
            raise ValueError(f"BagOfNgrams: ids must be (N, M), one row of n-gram ids per sentence; got shape {shape}")
        rows = F.embedding(ids, self.weight, padding_idx=PAD_ID)  # (N, M, C); padding rows are zero
        return rows.sum(axis=1) + self.bias

    def extra_repr(self):
        return f"num_features={self.weight.shape[0]}, num_classes={self.weight.shape[1]}"
