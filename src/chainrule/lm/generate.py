"""Text from a trained language model: sampling (seeded, with temperature and top-k) and greedy decoding.

All requested sentences are generated together: each step asks the model for
the next-word distribution of every unfinished sentence in one batch. The
special tokens ``<pad>`` and ``<s>`` are never produced, and ``<unk>`` can be
forbidden; a sentence ends at ``</s>`` or after ``max_len`` words.
"""
import numpy as np

from ..rng import numpy_seed


def generate_ids(next_log_probs, context_size, bos_id, eos_id, n=1, prompt_ids=(), max_len=50,
                 temperature=1.0, top_k=None, greedy=False, banned_ids=(), seed=None):
    """Continue ``prompt_ids`` ``n`` times; returns a list of n lists of new ids (without ``</s>``).

    ``next_log_probs(contexts (B, context_size)) -> (B, V)`` log-probabilities
    is the model. ``temperature`` divides the log-probabilities before
    sampling (below 1 sharpens, above 1 flattens); ``top_k`` samples only
    among the k most likely words; ``greedy`` always takes the most likely.
    ``max_len`` counts the new words, not the prompt's.
    """
    if n < 1:
        raise ValueError(f"generate: n must be at least 1, got {n}")
    if max_len < 1:
        raise ValueError(f"generate: max_len must be at least 1, got {max_len}")
    if not greedy and not 0 < temperature < np.inf:
        raise ValueError(f"generate: temperature must be positive and finite, got {temperature} (use greedy "
                         "decoding for the limit of temperature 0)")
    if top_k is not None and top_k < 1:
        raise ValueError(f"generate: top_k must be at least 1, got {top_k}")
    rng = np.random.default_rng(numpy_seed(seed))
    # A sentence starts after context_size <s>; the prompt fills the most recent positions.
    history = [bos_id] * context_size + list(prompt_ids)
    contexts = np.tile(np.asarray(history[-context_size:], dtype=np.int64), (n, 1))
    banned = np.asarray(sorted(set(banned_ids)), dtype=np.int64)
    out = [[] for _ in range(n)]
    alive = np.arange(n)
    for _ in range(max_len):
        logp = np.asarray(next_log_probs(contexts[alive]), dtype=np.float64)
        if banned.size:
            logp[:, banned] = -np.inf
        nxt = logp.argmax(axis=1) if greedy else _sample(logp, temperature, top_k, rng)
        for row, word in zip(alive, nxt):
            if word != eos_id:
                out[row].append(int(word))
        contexts[alive] = np.concatenate([contexts[alive, 1:], nxt[:, None]], axis=1)
        alive = alive[nxt != eos_id]
        if alive.size == 0:
            break
    return out


def _sample(logp, temperature, top_k, rng):
    """One draw per row from softmax(logp / temperature), restricted to each row's top k."""
    # The maximum is subtracted before dividing: a tiny temperature would otherwise overflow every
    # value to -inf (and the draw would be NaN). The most likely words then stay at 0.
    with np.errstate(over="ignore"):  # -inf is the right answer for the words far below the best
        z = (logp - logp.max(axis=1, keepdims=True)) / temperature
    if top_k is not None and top_k < z.shape[1]:
        # Exactly k words stay, as torch.topk keeps: of words tied at the k-th value, those with
        # the lowest ids (so top_k=1 takes the word greedy decoding takes).
        drop = np.argsort(-z, axis=1, kind="stable")[:, top_k:]
        np.put_along_axis(z, drop, -np.inf, axis=1)
    p = np.exp(z)
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(z)) * cdf[:, -1]
    # The first word whose cumulative probability passes u; it always has p > 0.
    picked = (cdf <= u[:, None]).sum(axis=1)
    # u can round up to the total itself: then take the last word that has p > 0.
    last_positive = z.shape[1] - 1 - np.argmax(p[:, ::-1] > 0, axis=1)
    return np.minimum(picked, last_positive)


def generate(model, vocab, n=1, prompt=None, max_len=50, temperature=1.0, top_k=None, greedy=False, seed=None,
             allow_unk=True, lower=False):
    """``n`` sentences from a NeuralLM, each a list of tokens starting with the prompt's.

    ``prompt`` is text (tokenized as the training data was, lower-cased if
    ``lower``; words outside the vocabulary become ``<unk>`` for the model but
    are shown as written). ``allow_unk=False`` never generates ``<unk>``.
    """
    from ..text import tokenize

    prompt_tokens = tokenize(prompt, lower=lower) if prompt else []
    banned = [vocab.pad_id, vocab.bos_id] + ([] if allow_unk else [vocab.unk_id])
    ids = generate_ids(model.next_log_probs, model.context_size, vocab.bos_id, vocab.eos_id, n=n,
                       prompt_ids=vocab.encode(prompt_tokens).tolist(), max_len=max_len, temperature=temperature,
                       top_k=top_k, greedy=greedy, banned_ids=banned, seed=seed)
    return [prompt_tokens + vocab.decode(row) for row in ids]


_NO_SPACE_BEFORE = {".", ",", ";", ":", "!", "?", ")", "]", "}"}
_NO_SPACE_AFTER = {"(", "[", "{"}


def join_tokens(tokens):
    """Tokens as readable text: no space before closing punctuation or after opening brackets."""
    out = []
    for tok in tokens:
        if out and tok not in _NO_SPACE_BEFORE and out[-1] not in _NO_SPACE_AFTER:
            out.append(" ")
        out.append(tok)
    return "".join(out)
