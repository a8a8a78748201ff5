"""From sentences to the arrays a TextCNN reads: token ids, feature channels, pretrained embeddings.

Every sentence is stored padded with ``<pad>`` (id 0), or cut, to one length
``max_len`` (by default the longest training sentence; longer sentences met
later are cut with a warning that counts them). Global pooling ignores
padding, so training and prediction cut each batch to its longest sentence;
windowed pooling reads all ``max_len`` positions.

Built-in per-token feature channels, added to the embedding channels:

* ``length``: the word's length in characters / 10 (capped at 2).
* ``shape``: five 0/1 channels for the word's shape: all lower case,
  Capitalised, ALL CAPS, contains a digit, punctuation only. Computed from the
  token as written, before lower-casing, so capitalisation survives.

Padding positions have all-zero features.

Tokens are chainrule's (``chainrule.text.tokenize``), with English clitics
split off as in Kim's preprocessing and the Penn Treebank: ``doesn't`` ->
``does n't``, ``it's`` -> ``it 's``, ``you'll`` -> ``you 'll``. GloVe and
word2vec were trained on text split that way, so negations find their
vectors instead of starting random.
"""
import warnings

import numpy as np

from ..rng import numpy_seed
from ..text import PAD_ID, SPECIALS, Vocab, tokenize

FEATURES = {"length": 1, "shape": 5}
CLITICS = ("n't", "'s", "'re", "'ve", "'ll", "'d", "'m")


def split_clitics(tokens):
    """Split English clitics off their words, Penn Treebank style (``can't`` -> ``ca n't``)."""
    out = []
    for tok in tokens:
        low = tok.lower()
        for clitic in CLITICS:
            if low.endswith(clitic) and len(tok) > len(clitic):
                out += [tok[:-len(clitic)], tok[-len(clitic):]]
                break
        else:
            out.append(tok)
    return out


def cnn_tokenize(text, clitics=True):
    """The tokens the TextCNN reads, as written (not lower-cased): see the module docstring."""
    tokens = tokenize(text)
    return split_clitics(tokens) if clitics else tokens


def feature_width(names):
    """Number of channels the built-in features ``names`` add."""
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown token feature(s) {unknown}; known: {', '.join(FEATURES)}")
    return sum(FEATURES[n] for n in names)


def _shape(token):
    letters = [c for c in token if c.isalpha()]
    all_upper = len(letters) > 1 and all(c.isupper() for c in letters)
    capitalised = bool(letters) and letters[0].isupper() and not all_upper
    return [
        float(bool(letters) and all(c.islower() for c in letters)),
        float(capitalised),
        float(all_upper),
        float(any(c.isdigit() for c in token)),
        float(not any(c.isalnum() for c in token)),
    ]


def token_features(token_lists, names, max_len):
    """Built-in features of each token, (N, max_len, channels) float32; zeros at padding."""
    width = feature_width(names)
    out = np.zeros((len(token_lists), max_len, width), np.float32)
    if not width:
        return out
    # Each distinct token is described once; sentences repeat words a lot.
    cache = {}
    for i, tokens in enumerate(token_lists):
        for j, tok in enumerate(tokens[:max_len]):
            row = cache.get(tok)
            if row is None:
                row = []
                for name in names:
                    row += [min(len(tok), 20) / 10.0] if name == "length" else _shape(tok)
                cache[tok] = row
            out[i, j] = row
    return out


class TextEncoder:
    """Turns sentences into fixed-length id arrays (and feature channels) for one trained model.

    ``lower``: compare words in lower case (Kim's preprocessing, and GloVe's
    vocabulary); ``features``: names of built-in token features. Saved with
    the model (``config()``, plus the vocabulary file) so prediction encodes
    text exactly as training did.
    """

    def __init__(self, vocab, max_len, lower=True, features=(), clitics=True):
        self.vocab, self.max_len, self.lower, self.clitics = vocab, int(max_len), bool(lower), bool(clitics)
        self.features = tuple(features)
        self.feature_channels = feature_width(self.features)

    @classmethod
    def fit(cls, token_lists, lower=True, features=(), min_count=1, max_len=None, min_len=1, extra_words=(),
            clitics=True):
        """Build the vocabulary from training sentences (token lists as written, not lower-cased).

        ``max_len`` None takes the longest training sentence. ``min_len`` is the
        shortest length the model accepts (its widest filter). ``extra_words``
        are added to the vocabulary after the training words (words of other
        splits that have pretrained vectors, as Kim's code does; no labels are used).
        ``clitics`` records how the tokens were made (``cnn_tokenize``), for prediction.
        """
        words = [[t.lower() for t in toks] for toks in token_lists] if lower else token_lists
        vocab = Vocab.build(words, min_count=min_count)
        extra = sorted({w for w in extra_words if w not in vocab})
        if extra:
            vocab = Vocab(vocab.itos + extra, vocab.counts)
        longest = max((len(t) for t in token_lists), default=1)
        length = max(longest if max_len is None else int(max_len), int(min_len))
        return cls(vocab, length, lower, features, clitics)

    def tokenize(self, texts):
        return [cnn_tokenize(t, self.clitics) for t in texts]

    def encode(self, token_lists, warn=True, source="input"):
        """(ids (N, max_len) int64, features (N, max_len, F) float32 or None, number truncated)."""
        n = len(token_lists)
        ids = np.full((n, self.max_len), PAD_ID, np.int64)
        stoi, unk = self.vocab.stoi, self.vocab.unk_id
        truncated = 0
        for i, tokens in enumerate(token_lists):
            if len(tokens) > self.max_len:
                truncated += 1
                tokens = tokens[:self.max_len]
            if self.lower:
                tokens = [t.lower() for t in tokens]
            ids[i, :len(tokens)] = [stoi.get(t, unk) for t in tokens]
        if truncated and warn:
            warnings.warn(f"{source}: {truncated} of {n} sentences are longer than max_len={self.max_len} words "
                          "and were truncated", stacklevel=2)
        feats = token_features(token_lists, self.features, self.max_len) if self.features else None
        return ids, feats, truncated

    def config(self):
        return {"max_len": self.max_len, "lower": self.lower, "features": list(self.features),
                "clitics": self.clitics}

    @classmethod
    def from_config(cls, config, vocab):
        return cls(vocab, config["max_len"], config["lower"], config["features"], config.get("clitics", True))


def pad_user_features(features, n, max_len, source="user features"):
    """User-supplied per-token features (N, L, F) padded with zeros or cut to (N, max_len, F) float32."""
    arr = np.asarray(features, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[0] != n:
        raise ValueError(f"{source}: expected an array of shape (N={n}, L, F), got {arr.shape}")
    out = np.zeros((n, max_len, arr.shape[2]), np.float32)
    keep = min(max_len, arr.shape[1])
    out[:, :keep] = arr[:, :keep]
    return out


#: The standard deviation of U[-0.25, 0.25]: Kim chose 0.25 so that random vectors have the
#: variance of word2vec's GoogleNews vectors, the scale his other settings were tuned at.
KIM_STD = 0.25 / np.sqrt(3.0)


def pretrained_matrix(vocab, vectors, dim=None, seed=0, source=None, std=KIM_STD):
    """An embedding matrix for ``vocab`` from pretrained ``vectors`` (a KeyedVectors: words, matrix).

    Words the vectors lack get U[-0.25, 0.25] (Kim 2014), drawn from a
    generator seeded with ``seed``; ``<pad>`` is zero. A word is looked up as
    written, then in lower case. Returns (matrix float32 (V, D), coverage),
    where coverage counts the vocabulary words (specials excluded) found and
    gives the ``scale`` applied. ``dim``, when given, must equal the vectors'
    width (the model's embedding width).

    ``std``: the pretrained vectors are first multiplied by one number so that
    their elements' standard deviation is ``std`` (None leaves them as they
    are). The default, that of U[-0.25, 0.25], is word2vec's scale; GloVe 6B
    50d's is 0.64, about 4.5 times larger, which leaves Kim's Adadelta steps
    too small to move the vectors. (Non-static GloVe 50d on the first of
    ``mr``'s 10 folds with Kim's settings: test accuracy 73.4% without the
    rescaling, 75.3% with it.)
    """
    matrix = np.asarray(vectors.matrix, dtype=np.float32)
    scale = 1.0
    if std is not None:
        scale = float(std / max(float(matrix.std()), 1e-12))
        matrix = matrix * np.float32(scale)
    source = source or getattr(vectors, "name", None) or "the pretrained vectors"
    width = matrix.shape[1]
    if dim is not None and int(dim) != width:
        raise ValueError(f"{source}: the vectors are {width} wide but the model's embedding width is {dim}; "
                         f"drop --embed-dim or set it to {width}")
    index = vectors.index if hasattr(vectors, "index") else {w: i for i, w in enumerate(vectors.words)}
    out = np.random.default_rng(numpy_seed(seed)).uniform(-0.25, 0.25, (len(vocab), width)).astype(np.float32)
    out[PAD_ID] = 0
    found = 0
    words = vocab.itos[len(SPECIALS):]
    for i, word in enumerate(words, start=len(SPECIALS)):
        row = index.get(word)
        if row is None:
            row = index.get(word.lower())
        if row is not None:
            out[i] = matrix[row]
            found += 1
    coverage = {"words": len(words), "found": found, "rate": found / len(words) if words else 0.0, "scale": scale}
    return out, coverage
