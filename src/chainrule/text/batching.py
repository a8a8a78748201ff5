"""Turning encoded sentences into training examples and mini-batches.

A fixed-window language model (Bengio et al., 2003) predicts each word from
the ``context_size`` words before it. ``ngram_examples`` builds every such
(context, next word) pair: each sentence is padded on the left with
``context_size`` copies of ``<s>`` and ends with ``</s>``, which the model
must also predict, so a sentence of L words gives L + 1 examples. With
context_size=2, the sentence ``a b`` gives::

    <s> <s> -> a
    <s> a   -> b
    a   b   -> </s>
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def ngram_examples(sentences_ids, context_size, bos_id, eos_id, check_length=True):
    """Every (context, next token) pair of the sentences (see the module docstring).

    ``sentences_ids``: a list of int sequences (one per sentence, without
    ``<s>``/``</s>``). Returns ``X`` int64 (N, context_size) and ``y`` int64
    (N,), N = total words + number of sentences. Raises ValueError if
    ``context_size`` is longer than every sentence: such a window would be
    mostly padding, which is almost always a mistake in the settings when
    training. ``check_length=False`` skips that check, for text that is only
    scored (its short sentences are simply padded with ``<s>``).
    """
    if isinstance(context_size, bool) or not isinstance(context_size, (int, np.integer)) or context_size < 1:
        raise ValueError(f"context_size must be a positive integer, got {context_size!r}")
    sentences = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sentences_ids]
    if not sentences:
        raise ValueError("ngram_examples needs at least one sentence")
    lengths = np.array([len(s) for s in sentences])
    longest = int(lengths.max())
    if check_length and context_size > longest:
        raise ValueError(f"context_size={context_size} is longer than every sentence (the longest has {longest} "
                         f"tokens, the mean {lengths.mean():.1f}); use a context of at most {longest}")
    # One long array of padded sentences; the targets are every position that
    # is not left padding, and each target's context is the window just before
    # it, which never reaches into the previous sentence.
    pieces = []
    pad = np.full(context_size, bos_id, dtype=np.int64)
    end = np.array([eos_id], dtype=np.int64)
    for s in sentences:
        pieces += [pad, s, end]
    full = np.concatenate(pieces)
    block = lengths + context_size + 1          # padded length of each sentence
    starts = np.concatenate([[0], np.cumsum(block)[:-1]])
    n_targets = lengths + 1
    # Positions of targets: start + context_size + (0 .. length) for each sentence.
    offsets = np.arange(n_targets.sum()) - np.repeat(np.cumsum(n_targets) - n_targets, n_targets)
    targets = np.repeat(starts + context_size, n_targets) + offsets
    windows = sliding_window_view(full, context_size)
    X = np.ascontiguousarray(windows[targets - context_size])
    y = full[targets]
    return X, y


def minibatches(n, batch_size, shuffle=False, rng=None, drop_last=False):
    """Yield index arrays covering ``range(n)`` in batches of ``batch_size``.

    With ``shuffle=True`` the order is a fresh permutation drawn from ``rng``
    (a ``numpy.random.Generator``; default: chainrule's own generator, which
    ``chainrule.manual_seed`` makes reproducible). The last batch may be
    smaller unless ``drop_last``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if shuffle:
        if rng is None:
            from ..rng import generator
            rng = generator()
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        yield order[i:i + batch_size]


def pad_batch(sequences, pad_id=0, length=None):
    """Stack int sequences into an int64 (B, T) array, padding on the right with ``pad_id``.

    T is the longest sequence, or ``length`` (longer sequences are cut),
    which suits models that need a fixed or minimum width (a convolution).
    """
    seqs = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences]
    width = max((len(s) for s in seqs), default=0) if length is None else int(length)
    out = np.full((len(seqs), width), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        s = s[:width]
        out[i, :len(s)] = s
    return out
