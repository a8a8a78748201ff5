"""Interpolated modified Kneser-Ney (Chen & Goodman 1998), counted with NumPy.

For an n-gram ``h w`` of order k with adjusted count a(h w)::

    p_k(w | h) = max(a(h w) - D_k(a), 0) / sum_v a(h v)  +  gamma(h) * p_{k-1}(w | h[1:])
    gamma(h)   = (D_k1 N1(h) + D_k2 N2(h) + D_k3+ N3+(h)) / sum_v a(h v)

where N_j(h) is the number of words following h with adjusted count j (3 or
more for N3+), and the three discounts of each order come from its
count-of-counts n1..n4: Y = n1 / (n1 + 2 n2), D1 = 1 - 2Y n2/n1,
D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3. The recursion ends in the uniform
distribution over the vocabulary: p_0(w) = 1 / |V|.

Conventions, chosen to match KenLM's ``lmplz`` so that our ARPA files mean
the same thing to KenLM as to us:

* A sentence is ``<s> w1 ... wn </s>`` with a single ``<s>``; an n-gram never
  crosses a sentence boundary, so the first word is predicted from the
  context ``<s>`` alone (as KenLM's begin-of-sentence state does).
* Adjusted counts: the highest order uses raw counts; a lower-order n-gram
  uses its continuation count, the number of distinct words (``<s>``
  included) seen just before it, except an n-gram that starts with ``<s>``,
  which nothing can precede, and so keeps its raw count.
* The vocabulary V of the uniform distribution contains ``<unk>`` and
  ``</s>`` but not ``<s>`` (KenLM: "includes <unk> but excludes <s>").
  ``<unk>`` is an ordinary word here: the caller has already replaced rare
  words by it, so it has counts of its own.
* Count-of-counts are taken over the adjusted counts of each order, as KenLM
  does. Where n1, n2 or n3 is zero, or a discount falls outside (0, j],
  KenLM stops with an error (unless told ``--discount_fallback``); we fall
  back with a ``DiscountWarning`` so that tiny corpora still give a model:
  to Ney's single discount n1 / (n1 + 2 n2) where n1 and n2 are non-zero,
  else to KenLM's fallback (0.5, 1, 1.5).

Checked against KenLM's own ``lmplz`` on a synthetic corpus at orders 2-5:
with the same discounts, every log10 probability agrees to float32 precision.
"""
import itertools
import warnings

import numpy as np

from .backoff import BOS, EOS, UNK, BackoffLM, encode_sentences

PAD = "<pad>"


class DiscountWarning(UserWarning):
    """The corpus is too small for modified Kneser-Ney discounts at some order; a fallback is used."""


class KneserNeyLM(BackoffLM):
    """Interpolated modified Kneser-Ney n-gram language model.

    ``KneserNeyLM(order, discounts=None)``: ``discounts`` overrides the
    estimated ones, either one number for every order and count, or a list of
    ``order`` entries (unigrams first), each a number or a ``(D1, D2, D3+)``
    triple, with 0 < Dj <= j.

    ``fit(sentences, vocab=None)`` counts a list of token lists and returns
    the model. With a ``vocab`` (a list of words that includes ``<unk>``, or
    a ``chainrule.text.Vocab``), the model's distribution is over exactly
    that vocabulary less ``<s>`` and ``<pad>``, in its order (plus ``</s>``
    at the end if it lacks it), so that perplexities compare with a neural
    model on the same vocabulary; training words outside it count as
    ``<unk>``. Without one, the vocabulary is ``<unk>``, ``</s>`` and the
    training words in order of first appearance. ``self.vocab`` lists it.
    """

    def __init__(self, order, discounts=None):
        super().__init__(order)
        self._discount_arg = None if discounts is None else _check_discounts(discounts, self.order)
        self.discounts = self._discount_arg
        self.count_of_counts = None

    # -------------------------------------------------------------- counting
    def fit(self, sentences, vocab=None):
        if isinstance(sentences, str):
            raise TypeError("sentences must be a list of token lists, got a string")
        sentences = sentences if isinstance(sentences, list) else list(sentences)
        if not sentences:
            raise ValueError("fit: no sentences to count")
        words = _vocabulary(sentences, vocab)
        ids, hist = encode_sentences(sentences, words, {w: i for i, w in enumerate(words)})
        bos = len(words) - 1
        keys, adjusted, prefix, suffix = _count(ids, hist, self.order, len(words), bos)
        self.count_of_counts = [[int(np.count_nonzero(a == j)) for j in range(1, 5)] for a in adjusted[1:]]
        if self._discount_arg is not None:
            self.discounts = self._discount_arg
        else:
            self.discounts = []
            for k, n in enumerate(self.count_of_counts, start=1):  # a loop, so warnings point at fit's caller
                self.discounts.append(_estimate_discounts(k, n))
        logprob, logbow = _interpolate(adjusted, prefix, suffix, self.discounts, bos)
        self._set_tables(words, keys, logprob, logbow)
        return self


def _vocabulary(sentences, vocab):
    """The word list, id order; <s> last."""
    if vocab is not None:
        vocab = getattr(vocab, "itos", vocab)  # a chainrule.text.Vocab, or any list of words
        if isinstance(vocab, str):
            raise TypeError("vocab must be a list of words, got a string")
        words = [w for w in dict.fromkeys(vocab) if w not in (BOS, PAD)]
        if UNK not in words:
            raise ValueError("vocab has no '<unk>': the model needs it for words outside the vocabulary")
        if EOS not in words:
            words.append(EOS)
    else:
        for i, s in enumerate(sentences):
            if isinstance(s, str):
                raise TypeError(f"sentence {i} is a string ({s[:40]!r}); give each sentence as a list of tokens")
        seen = dict.fromkeys([UNK, EOS])
        seen.update(dict.fromkeys(itertools.chain.from_iterable(sentences)))
        seen.pop(BOS, None)  # _encode reports it where it occurs
        words = list(seen)
    return words + [BOS]


def _count(ids, hist, order, width, bos):
    """N-gram tables of every order with raw and adjusted counts.

    Returns, per order k (index 0 unused): ``keys[k]`` (sorted, as in BackoffLM;
    None for unigrams), ``adjusted[k]``, ``prefix[k]`` (index of the
    first k-1 words in order k-1) and ``suffix[k]`` (index of the last k-1 words
    in order k-1).
    """
    keys, raw, prefix, suffix = [None, None], [None, None], [None, None], [None, None]
    raw[1] = np.bincount(ids, minlength=width)
    raw[1][bos] = 0  # <s> is never predicted
    nodes = ids  # the (k-1)-gram ending at each position; at k = 2, the word itself
    for k in range(2, order + 1):
        t = np.nonzero(hist >= k - 1)[0]  # positions where a k-gram ends inside its sentence
        key, inverse, counts = np.unique(nodes[t - 1] * width + ids[t], return_inverse=True, return_counts=True)
        # The k-gram ending at t drops its first word to the (k-1)-gram ending at t.
        suf = np.empty(len(key), dtype=np.int64)
        suf[inverse] = nodes[t]
        new_nodes = np.full(len(ids), -1, dtype=np.int64)
        new_nodes[t] = inverse
        nodes = new_nodes
        keys.append(key)
        raw.append(counts.astype(np.int64))
        prefix.append(key // width)
        suffix.append(suf)

    adjusted = [None] * (order + 1)
    adjusted[order] = raw[order]
    starts_bos = [None, np.arange(width) == bos]
    for k in range(2, order + 1):
        starts_bos.append(starts_bos[k - 1][prefix[k]])
    for k in range(order - 1, 0, -1):
        # Continuation count: the number of distinct (k+1)-grams this k-gram ends.
        continuation = np.bincount(suffix[k + 1], minlength=len(raw[k]))
        adjusted[k] = np.where(starts_bos[k], raw[k], continuation) if k > 1 else continuation
    return keys, adjusted, prefix, suffix


# KenLM's lmplz --discount_fallback default, for orders too sparse for any estimate.
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


def _estimate_discounts(k, n):
    """(D1, D2, D3+) for order k from its count-of-counts n = [n1, n2, n3, n4]; Chen & Goodman eq. 26.

    Like KenLM, n4 = 0 is allowed (it gives D3+ = 3); n1, n2 or n3 = 0, or an
    estimate outside (0, j], is not, and then we fall back with a warning.
    """
    n1, n2, n3, n4 = n
    zero = [j for j in range(1, 4) if n[j - 1] == 0]
    if not zero:
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        bad = [j for j in range(1, 4) if not 0 < d[j - 1] <= j]
        if not bad:
            return d
        j = bad[0]
        reason = f"the estimate D{j}{'+' if j == 3 else ''} = {d[j - 1]:.4g} is outside (0, {j}]"
    else:
        counts = ", ".join(f"n{j}" for j in zero)
        reason = f"no {k}-grams have adjusted count " + ", ".join(str(j) for j in zero) + f" ({counts} = 0)"
    if n1 > 0 and n2 > 0:
        # Ney's single absolute discount, defined with n1 and n2 alone.
        single = n1 / (n1 + 2 * n2)
        fallback = (single, single, single)
        using = f"the single Kneser-Ney discount n1/(n1+2 n2) = {single:.4g} for all counts"
    else:
        fallback = FALLBACK_DISCOUNTS
        using = "D1, D2, D3+ = 0.5, 1, 1.5 (KenLM's --discount_fallback)"
    warnings.warn(f"Kneser-Ney discounts for order {k}: {reason}; using {using} "
                  f"(the corpus is too small for modified Kneser-Ney at this order)", DiscountWarning, stacklevel=3)
    return fallback


def _check_discounts(discounts, order):
    if np.isscalar(discounts):
        discounts = [discounts] * order
    discounts = list(discounts)
    if len(discounts) != order:
        raise ValueError(f"discounts: expected one entry per order (unigrams first), {order} in all, "
                         f"got {len(discounts)}")
    out = []
    for k, d in enumerate(discounts, start=1):
        triple = (d, d, d) if np.isscalar(d) else tuple(d)
        if len(triple) != 3:
            raise ValueError(f"discounts for order {k}: expected a number or (D1, D2, D3+), got {d!r}")
        triple = tuple(float(x) for x in triple)
        for j, x in enumerate(triple, start=1):
            if not 0 < x <= j:
                raise ValueError(f"discount D{j} for order {k} is {x}; it must be in (0, {j}]")
        out.append(triple)
    return out


def _interpolate(adjusted, prefix, suffix, discounts, bos):
    """Natural-log interpolated probabilities of every stored n-gram, and backoff weights gamma."""
    order = len(adjusted) - 1
    logprob, logbow = [None] * (order + 1), [None] * order
    # Unigrams: interpolate with the uniform distribution over V (every id but <s>).
    a = adjusted[1].astype(np.float64)
    discount = _discount_of(adjusted[1], discounts[0])
    total = a.sum()
    n_vocab = len(a) - 1
    prob = (a - discount) / total + discount.sum() / total / n_vocab
    prob[bos] = 0.0
    with np.errstate(divide="ignore"):
        logprob[1] = np.log(prob)
    for k in range(2, order + 1):
        a = adjusted[k].astype(np.float64)
        discount = _discount_of(adjusted[k], discounts[k - 1])
        n_contexts = len(logprob[k - 1])
        denominator = np.bincount(prefix[k], weights=a, minlength=n_contexts)
        held_out = np.bincount(prefix[k], weights=discount, minlength=n_contexts)
        is_context = denominator > 0
        gamma = np.ones(n_contexts)
        gamma[is_context] = held_out[is_context] / denominator[is_context]
        # The ids of the longer n-grams are nested: a k-gram's lower-order probability is its suffix's.
        prob = (a - discount) / denominator[prefix[k]] + gamma[prefix[k]] * prob[suffix[k]]
        logbow[k - 1] = np.log(gamma)
        logprob[k] = np.log(prob)
    return logprob, logbow


def _discount_of(counts, d):
    table = np.array([0.0, d[0], d[1], d[2]])
    return table[np.minimum(counts, 3)]
