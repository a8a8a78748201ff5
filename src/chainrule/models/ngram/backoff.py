"""An n-gram language model in backoff form, the form ARPA files store, and its vectorised scoring.

For every stored n-gram ``h w`` the table holds log p(w | h), and for every
stored context ``h`` a backoff weight bow(h). An n-gram that is not stored is
scored by dropping the oldest context word::

    p(w | h) = p(w | h)                 if h w is stored
             = bow(h) * p(w | h[1:])    otherwise (bow(h) = 1 when h is not stored)

Interpolated Kneser-Ney is exactly of this form (bow(h) is the interpolation
weight gamma(h)), so the fitted model and the ARPA file it writes score alike.

Storage is a trie flattened into sorted arrays, one per order k: an n-gram of
order k is the pair (index of its (k-1)-word prefix in the order k-1 table,
id of its last word), packed into one int64 key ``prefix * W + word`` where W
is the number of word ids. Unigrams are indexed by word id directly. Looking
up all positions of a corpus is then one ``np.searchsorted`` per order, with
no Python loop over tokens.
"""
import itertools

import numpy as np

from ..perplexity import Score, perplexity

BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"


def lookup(table, keys):
    """Index of each key in the sorted array ``table``, or -1 where it is absent."""
    if len(table) == 0 or len(keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    # Searching in sorted order is several times faster: consecutive searches
    # touch neighbouring memory instead of jumping across a large table.
    order = np.argsort(keys)
    pos = np.empty(len(keys), dtype=np.int64)
    pos[order] = np.searchsorted(table, keys[order])
    hit = table[np.minimum(pos, len(table) - 1)] == keys
    return np.where(hit, pos, -1)


def encode_sentences(sentences, words, index):
    """Word ids of ``<s> s1 </s> <s> s2 </s> ...`` and, per position, how many tokens of the same
    sentence precede it (0 at each ``<s>``). ``words[-1]`` is ``<s>``; tokens not in ``index`` are ``<unk>``."""
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of token lists, got a string")
    bos, eos, unk = len(words) - 1, index[EOS], index[UNK]
    if len(sentences) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    lengths = np.empty(len(sentences), dtype=np.int64)
    for i, s in enumerate(sentences):
        if isinstance(s, str):
            raise TypeError(f"sentence {i} is a string ({s[:40]!r}); give each sentence as a list of tokens")
        lengths[i] = len(s)
    tokens = list(itertools.chain.from_iterable(sentences))
    inner = np.array(list(map(index.get, tokens, itertools.repeat(unk, len(tokens)))), dtype=np.int64)
    boundary = (inner == bos) | (inner == eos)
    if boundary.any():
        first = int(np.argmax(boundary))
        i = int(np.searchsorted(np.cumsum(lengths), first, side="right"))
        raise ValueError(f"sentence {i} contains {words[inner[first]]!r}: sentence boundaries are "
                         f"added by the model, pass the words only")
    padded = lengths + 2
    starts = np.concatenate([[0], np.cumsum(padded)[:-1]]).astype(np.int64)
    total = int(padded.sum())
    ids = np.empty(total, dtype=np.int64)
    hist = np.arange(total, dtype=np.int64) - np.repeat(starts, padded)
    ids[starts] = bos
    ids[starts + padded - 1] = eos
    ids[(hist > 0) & (hist < np.repeat(padded - 1, padded))] = inner
    return ids, hist


class BackoffLM:
    """An n-gram model that scores from backoff tables (``from_arpa`` loads one).

    Log-probabilities are natural logs. Sentences are lists of tokens; each is
    scored as ``<s> w1 ... wn </s>``: the model predicts every word and the
    end of sentence, and ``<s>`` is context only. Words outside the
    vocabulary are scored as ``<unk>``.
    """

    def __init__(self, order):
        if int(order) != order or order < 1:
            raise ValueError(f"n-gram order must be a positive integer, got {order!r}")
        self.order = int(order)
        self._words = None  # id -> word; <s> is always the last id

    # ------------------------------------------------------------ the tables
    def _set_tables(self, words, keys, logprob, logbow):
        """Install the tables. ``keys[k]``, ``logprob[k]`` for k = 1..order (``keys[1]`` is None:
        unigrams are indexed by word id), ``logbow[k]`` for k = 1..order-1. NaN in ``logprob``
        marks a context that is stored only so that longer n-grams can hang from it."""
        if words[-1] != BOS:
            raise ValueError("internal: <s> must be the last word id")
        self._words = list(words)
        self._index = {w: i for i, w in enumerate(self._words)}
        self._bos = len(words) - 1
        self._eos = self._index[EOS]
        self._unk = self._index[UNK]
        self._keys = keys
        self._logprob = logprob
        self._logbow = logbow

    def _check_fitted(self):
        if self._words is None:
            raise RuntimeError(f"{type(self).__name__} has no tables yet: call fit() or from_arpa() first")

    @property
    def vocab(self):
        """The words the model predicts, in the order of ``logprobs``' entries (``<s>`` is not one)."""
        self._check_fitted()
        return self._words[:-1]

    def ngram_counts(self):
        """Number of n-grams stored at each order 1..order (as in an ARPA header; unigrams include ``<s>``)."""
        self._check_fitted()
        return [int(np.count_nonzero(~np.isnan(lp))) for lp in self._logprob[1:]]

    # --------------------------------------------------------------- encoding
    def _encode(self, sentences):
        return encode_sentences(sentences, self._words, self._index)

    def _ids(self, tokens):
        return np.array([self._index.get(w, self._unk) for w in tokens], dtype=np.int64)

    # ---------------------------------------------------------------- lookups
    def _nodes(self, ids, hist):
        """For each order k, the table index of the k-gram ending at each position (-1: not stored)."""
        nodes = [None, ids]
        width = len(self._words)
        for k in range(2, self.order + 1):
            node = np.full(len(ids), -1, dtype=np.int64)
            t = np.nonzero(hist >= k - 1)[0]
            prefix = nodes[k - 1][t - 1]
            t, prefix = t[prefix >= 0], prefix[prefix >= 0]
            node[t] = lookup(self._keys[k], prefix * width + ids[t])
            nodes.append(node)
        return nodes

    def _stream_logprobs(self, ids, hist):
        """ln p(ids[t] | up to order-1 preceding ids of the same sentence), for every position t."""
        nodes = self._nodes(ids, hist)
        best = self._logprob[1][ids].copy()
        longest = np.ones(len(ids), dtype=np.int64)
        for k in range(2, self.order + 1):
            at = np.nonzero(nodes[k] >= 0)[0]
            lp = self._logprob[k][nodes[k][at]]
            stored = ~np.isnan(lp)
            best[at[stored]] = lp[stored]
            longest[at[stored]] = k
        # Backoff weights of every context longer than the matched n-gram's.
        for j in range(1, self.order):
            ctx = np.full(len(ids), -1, dtype=np.int64)
            ctx[1:] = nodes[j][:-1]
            ctx[hist < j] = -1
            use = np.nonzero((ctx >= 0) & (longest <= j))[0]
            best[use] += self._logbow[j][ctx[use]]
        return best

    # ---------------------------------------------------------------- scoring
    def logprob(self, word, context=()):
        """ln p(word | context). ``context`` is the preceding tokens; pass ``["<s>", ...]`` for the start
        of a sentence. Only the last order-1 tokens matter."""
        self._check_fitted()
        context = list(context)
        keep = self.order - 1
        tokens = (context[-keep:] if keep else []) + [word]
        ids = self._ids(tokens)
        return float(self._stream_logprobs(ids, np.arange(len(ids)))[-1])

    def logprobs(self, context=()):
        """ln p(w | context) for every w in ``self.vocab``, as one array (its exp sums to 1 for a
        Kneser-Ney model)."""
        self._check_fitted()
        context = list(context)
        n = min(len(context), self.order - 1)
        ids = self._ids(context[len(context) - n:])
        nodes = self._nodes(ids, np.arange(n))
        ctx = [None] + [int(nodes[j][n - 1]) for j in range(1, n + 1)]
        bows = [self._logbow[j][ctx[j]] if ctx[j] >= 0 else 0.0 for j in range(1, n + 1)]
        # after[i]: the sum of the backoff weights of the contexts longer than i words.
        after = np.concatenate([np.cumsum(bows[::-1])[::-1], [0.0]]) if n else np.zeros(1)
        out = self._logprob[1] + after[0]
        width = len(self._words)
        for k in range(2, n + 2):
            c = ctx[k - 1]
            if c < 0:
                continue
            keys = self._keys[k]
            lo, hi = np.searchsorted(keys, [c * width, (c + 1) * width])
            lp = self._logprob[k][lo:hi]
            stored = ~np.isnan(lp)
            out[keys[lo:hi][stored] - c * width] = lp[stored] + after[k - 1]
        return out[:-1]

    def token_logprobs(self, sentences):
        """ln p of every scored token, in order: the words of each sentence, then its ``</s>``."""
        self._check_fitted()
        if not isinstance(sentences, (list, tuple)):
            sentences = list(sentences)
        ids, hist = self._encode(sentences)
        return self._stream_logprobs(ids, hist)[hist > 0]

    def score(self, sentences):
        """``Score(total_nll, n_tokens)``: n_tokens counts every word and one ``</s>`` per sentence."""
        lp = self.token_logprobs(sentences)
        return Score(0.0 - float(lp.sum()), int(lp.size))  # 0.0 -: no -0.0 for no tokens

    def perplexity(self, sentences):
        total_nll, n_tokens = self.score(sentences)
        return perplexity(total_nll, n_tokens)

    # -------------------------------------------------------------------- ARPA
    def to_arpa(self, path):
        """Write the model as an ARPA file (log10 probabilities and backoff weights), atomically.
        A path ending in ``.gz`` is gzip-compressed."""
        from .arpa import write_arpa
        self._check_fitted()
        write_arpa(self, path)

    @classmethod
    def from_arpa(cls, path):
        """A model that scores from the ARPA file at ``path`` (``.gz`` is read compressed)."""
        from .arpa import read_arpa
        return read_arpa(path, cls)

    def __repr__(self):
        if self._words is None:
            return f"{type(self).__name__}(order={self.order}, unfitted)"
        return f"{type(self).__name__}(order={self.order}, vocab={len(self.vocab)}, ngrams={self.ngram_counts()})"
