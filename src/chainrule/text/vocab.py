"""A vocabulary: the mapping between tokens and the integer ids a model sees.

Build it from the training split only (words seen only in validation or test
data must count as unknown, or the evaluation would peek)::

    vocab = Vocab.build(corpus.tokenized("train", lower=True), min_count=2)
    ids = vocab.encode(["the", "zyzzyva"])     # array([ 7, 1]): unknown -> <unk>
    vocab.decode(ids)                          # ['the', '<unk>']
    vocab.save("vocab.json"); Vocab.load("vocab.json")

Four special tokens always have the same ids, so models and batching code can
rely on them: ``<pad>`` = 0, ``<unk>`` = 1, ``<s>`` = 2 (start of sentence),
``</s>`` = 3 (end of sentence). The other words follow by decreasing count,
ties broken alphabetically, so the same data always gives the same ids.
"""
import collections
import json
import os

import numpy as np

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

_FORMAT = "chainrule-vocab"
_VERSION = 1


class Vocab:
    """Token <-> id mapping with fixed special ids (see the module docstring).

    Attributes: ``itos`` (list, id -> token), ``stoi`` (dict, token -> id),
    ``counts`` (dict, token -> count in the data it was built from; ``<unk>``
    holds the count of training tokens that fell out of the vocabulary).
    """

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID
    pad, unk, bos, eos = PAD, UNK, BOS, EOS

    def __init__(self, itos, counts=None):
        itos = list(itos)
        if tuple(itos[:len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with the special tokens {list(SPECIALS)}, "
                             f"got {itos[:len(SPECIALS)]}")
        stoi = {}
        for i, tok in enumerate(itos):
            if not isinstance(tok, str):
                raise TypeError(f"vocabulary entry {i} is {tok!r}, not a string")
            if tok in stoi:
                raise ValueError(f"token {tok!r} appears twice in the vocabulary (ids {stoi[tok]} and {i})")
            stoi[tok] = i
        self.itos = itos
        self.stoi = stoi
        counts = dict(counts or {})
        self.counts = {tok: int(counts.get(tok, 0)) for tok in itos}

    @classmethod
    def build(cls, token_lists, min_count=1, max_size=None):
        """Count the tokens of ``token_lists`` (an iterable of lists of tokens) and keep the frequent ones.

        ``min_count``: drop words seen fewer times. ``max_size``: the largest
        ``len(vocab)``, special tokens included; the most frequent words are
        kept. Tokens spelled like a special (``<unk>`` in Penn Treebank
        files) count towards that special rather than becoming a new word.
        Raises ValueError when no word at all survives.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        if max_size is not None and max_size < len(SPECIALS) + 1:
            raise ValueError(f"max_size={max_size} leaves no room for words: the {len(SPECIALS)} special "
                             f"tokens {list(SPECIALS)} already take that many entries")
        counter = collections.Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError("Vocab.build expects lists of tokens, got a str; tokenize the text first")
            counter.update(tokens)
        special_counts = {tok: counter.pop(tok, 0) for tok in SPECIALS}
        n_tokens = sum(counter.values())
        if n_tokens == 0:
            raise ValueError("cannot build a vocabulary from no tokens: the training data is empty")
        # Most frequent first; ties alphabetically, so equal data gives equal ids.
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [(w, c) for w, c in ranked if c >= min_count]
        if max_size is not None:
            kept = kept[:max_size - len(SPECIALS)]
        if not kept:
            raise ValueError(f"min_count={min_count} leaves only the special tokens: the most frequent of the "
                             f"{len(counter)} distinct words occurs {ranked[0][1]} times")
        counts = dict(special_counts)
        counts.update(kept)
        counts[UNK] += n_tokens - sum(c for _, c in kept)
        return cls(list(SPECIALS) + [w for w, _ in kept], counts)

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __getitem__(self, token):
        """The id of ``token``; the ``<unk>`` id for a token not in the vocabulary."""
        return self.stoi.get(token, UNK_ID)

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.itos == other.itos and self.counts == other.counts

    def __repr__(self):
        return f"Vocab({len(self)} tokens: {self.itos[len(SPECIALS):len(SPECIALS) + 5]}...)"

    def encode(self, tokens):
        """Token ids of ``tokens`` as an int64 array (unknown tokens -> ``unk_id``)."""
        get = self.stoi.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int64, count=len(tokens))

    def decode(self, ids):
        """The tokens of ``ids`` (any integer sequence or array)."""
        out = []
        n = len(self.itos)
        for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            if not 0 <= i < n:
                raise IndexError(f"token id {i} is outside this vocabulary of {n} tokens")
            out.append(self.itos[i])
        return out

    def unk_rate(self, token_lists):
        """Fraction of the tokens in ``token_lists`` that map to ``<unk>`` (0.0 for no tokens)."""
        total = unknown = 0
        stoi = self.stoi
        for tokens in token_lists:
            total += len(tokens)
            unknown += sum(1 for t in tokens if stoi.get(t, UNK_ID) == UNK_ID)
        return unknown / total if total else 0.0

    def to_dict(self):
        return {"format": _FORMAT, "version": _VERSION, "itos": self.itos,
                "counts": [self.counts[t] for t in self.itos]}

    def save(self, path):
        """Write the vocabulary as JSON, atomically (a crash leaves any old file whole)."""
        from ..train.atomic import atomic_write_json
        atomic_write_json(path, self.to_dict(), indent=None)

    @classmethod
    def load(cls, path):
        """Read a vocabulary written by :meth:`save`, with a clear error for a missing or damaged file."""
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"vocabulary file not found: {path}") from None
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not a chainrule vocabulary (not UTF-8 text: byte {e.start})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not a chainrule vocabulary (invalid JSON at line {e.lineno}, "
                             f"column {e.colno}: {e.msg}); the file may be truncated") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a chainrule vocabulary (no \"format\": \"{_FORMAT}\" field)")
        if data.get("version") != _VERSION:
            raise ValueError(f"{path}: vocabulary format version {data.get('version')!r} is not supported "
                             f"(this chainrule reads version {_VERSION})")
        itos, counts = data.get("itos"), data.get("counts")
        if not isinstance(itos, list) or not isinstance(counts, list) or len(itos) != len(counts):
            raise ValueError(f"{path}: damaged vocabulary: \"itos\" and \"counts\" must be lists of equal length")
        try:
            return cls(itos, dict(zip(itos, counts)))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: damaged vocabulary: {e}") from None
