"""Kim (2014)'s convolutional network for sentence classification, as an nn.Module.

    ids (N, L) -> embeddings (N, L, E) [+ extra per-token feature channels (N, L, F)]
        -> transpose to (N, E+F, L) -> one Conv1d per filter width, activation
        -> pooling over time (global max, average, k-max, or windowed max/average)
        -> concatenate -> dropout -> linear -> logits (N, classes)

Global pooling looks only at the positions whose filter window reaches into
the sentence, so the padding a batch adds changes nothing: batches can be cut
to their longest sentence (and sorted by length) without changing a result.
Windowed pooling reads fixed-length input (``max_len``) instead.

The four embedding modes of Kim's Table 2:

* ``rand``: embeddings initialised U[-0.25, 0.25] and trained.
* ``static``: pretrained vectors, frozen.
* ``non-static``: pretrained vectors, fine-tuned.
* ``multichannel``: a frozen and a fine-tuned copy of the vectors. Each filter
  is applied to both channels and the results added; convolution is linear, so
  that equals one convolution of the sum of the two channels, which is what
  ``forward`` computes (one matrix product instead of two).

The output layer's weight is kept inside a ball by ``apply_max_norm`` (Kim's
``s = 3``), which the trainer calls after every optimiser step.
"""
import numpy as np

from .. import functional as F
from .. import nn, rng
from ..creation import cat
from ..function import Function
from ..optim.clip import max_norm_
from ..tensor import Tensor

MODES = ("rand", "static", "non-static", "multichannel")
POOLS = ("max", "avg", "kmax")
ACTIVATIONS = ("relu", "tanh")


class KMaxPool1d(Function):
    """The k largest values of each row of the last axis, kept in their original order.

    Kalchbrenner et al. (2014)'s k-max pooling. The forward picks indices with
    a partial sort; the backward puts each gradient back at its index. Indices
    within a row are distinct, so a plain scatter is exact (no accumulation).
    """

    def forward(self, x, k):
        length = x.shape[-1]
        if not 1 <= k <= length:
            raise ValueError(f"k-max pooling: k={k} needs 1 <= k <= length, but the length is {length}")
        # A stable sort of the values, largest first with NaN above all (as max pooling and torch.topk
        # keep a NaN): of tied values the earliest win, so the result does not depend on the sort.
        key = np.where(np.isnan(x), -np.inf, -x)
        idx = np.argsort(key, axis=-1, kind="stable")[..., :k]
        idx.sort(axis=-1)  # sentence order, not value order
        self.idx, self.shape = idx, x.shape
        return np.take_along_axis(x, idx, axis=-1)

    def backward(self, g):
        grad = np.zeros(self.shape, dtype=g.dtype)
        np.put_along_axis(grad, self.idx, g, axis=-1)
        return (grad,)


def k_max_pool1d(x, k):
    """k-max pooling over the last axis of x (N, C, L) -> (N, C, k)."""
    return KMaxPool1d.apply(x if isinstance(x, Tensor) else Tensor(x), k=k)


def conv_out_len(length, kernel, stride, padding):
    """Length of a Conv1d's output; ``padding`` is a number of words on each side or 'same'."""
    if padding == "same":
        return length
    return (length + 2 * padding - kernel) // stride + 1


def min_input_length(filter_sizes, stride=1, padding=0, positions=1):
    """The shortest sentence for which every filter width gives at least ``positions`` outputs."""
    length = 1
    while min(conv_out_len(length, w, stride, padding) for w in filter_sizes) < positions:
        length += 1
    return length


class TextCNN(nn.Module):
    """Kim (2014)'s sentence CNN; see the module docstring for the layout and modes.

    Arguments:
        vocab_size, num_classes: the sizes of the input and output.
        embed_dim: embedding width (None: the width of ``vectors``, or Kim's 300 without them).
        filter_sizes, num_maps: filter widths in words, and feature maps per width.
        mode: 'rand', 'static', 'non-static' or 'multichannel'; all but 'rand' need ``vectors`` (V, E).
        activation: 'relu' or 'tanh'.
        pool: 'max', 'avg' or 'kmax'. ``pool_size`` None pools over the whole sentence (Kim);
            an integer pools windows of that many positions every ``pool_stride`` (default:
            ``pool_size``), which makes the output layer's width depend on ``max_len``.
            For 'kmax', ``k`` values are kept per map.
        stride, padding: of the convolutions; padding is zero words on each side, or 'same'.
        dropout: probability, applied to the pooled features (Kim: 0.5).
        feature_channels: extra per-token input channels (word length, shape, user features).
        max_len: the length every sentence is padded or cut to (needed for windowed pooling).
        max_norm: bound on the L2 norm of each class's output weights (Kim: 3); None for none.
        padding_idx: the vocabulary id of padding, whose embedding stays zero.
    """

    def __init__(self, vocab_size, num_classes, embed_dim=None, filter_sizes=(3, 4, 5), num_maps=100,
                 mode="rand", vectors=None, activation="relu", pool="max", pool_size=None, pool_stride=None,
                 k=1, stride=1, padding=0, dropout=0.5, feature_channels=0, max_len=None, max_norm=3.0,
                 padding_idx=0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"TextCNN: mode must be one of {', '.join(MODES)}, not {mode!r}")
        if pool not in POOLS:
            raise ValueError(f"TextCNN: pool must be one of {', '.join(POOLS)}, not {pool!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"TextCNN: activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")
        filter_sizes = tuple(int(w) for w in filter_sizes)
        if not filter_sizes or min(filter_sizes) < 1:
            raise ValueError(f"TextCNN: filter widths must be positive integers, got {filter_sizes}")
        if padding == "same" and stride != 1:
            raise ValueError("TextCNN: padding='same' needs stride 1")
        if pool == "kmax" and pool_size is not None:
            raise ValueError("TextCNN: k-max pooling keeps the k largest values of the whole sentence; "
                             "it takes no pool_size (windows are for max and avg)")
        if vectors is not None:
            vectors = np.asarray(vectors.data if isinstance(vectors, Tensor) else vectors, dtype=np.float32)
            if vectors.shape[0] != vocab_size:
                raise ValueError(f"TextCNN: the vectors have {vectors.shape[0]} rows but the vocabulary has "
                                 f"{vocab_size} words")
            if embed_dim is not None and embed_dim != vectors.shape[1]:
                raise ValueError(f"TextCNN: the vectors are {vectors.shape[1]} wide but embed_dim is {embed_dim}")
            embed_dim = vectors.shape[1]
        elif mode != "rand":
            raise ValueError(f"TextCNN: mode {mode!r} needs pretrained vectors; use mode 'rand' without them")
        elif embed_dim is None:
            embed_dim = 300

        # Everything needed to rebuild the architecture (TextCNN.from_config), JSON-friendly.
        self.config = {"vocab_size": int(vocab_size), "num_classes": int(num_classes), "embed_dim": int(embed_dim),
                       "filter_sizes": list(filter_sizes), "num_maps": int(num_maps), "mode": mode,
                       "activation": activation, "pool": pool, "pool_size": pool_size, "pool_stride": pool_stride,
                       "k": int(k), "stride": int(stride), "padding": padding, "dropout": float(dropout),
                       "feature_channels": int(feature_channels), "max_len": max_len, "max_norm": max_norm,
                       "padding_idx": padding_idx}
        self.mode, self.activation, self.pool = mode, activation, pool
        self.pool_size, self.pool_stride, self.k = pool_size, pool_stride or pool_size, int(k)
        self.filter_sizes, self.stride, self.padding = filter_sizes, int(stride), padding
        self.feature_channels, self.max_len, self.max_norm = int(feature_channels), max_len, max_norm

        if vectors is None:
            # Kim's random vectors: U[-0.25, 0.25], chosen to have about the variance of word2vec's.
            weight = rng.generator().uniform(-0.25, 0.25, (vocab_size, embed_dim)).astype(np.float32)
        else:
            weight = vectors.copy()
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.embedding = nn.Embedding.from_pretrained(weight, freeze=(mode == "static"), padding_idx=padding_idx)
        if mode == "multichannel":
            self.static_embedding = nn.Embedding.from_pretrained(weight.copy(), freeze=True, padding_idx=padding_idx)
        else:
            self.static_embedding = None

        in_channels = embed_dim + self.feature_channels
        self.convs = nn.ModuleList(nn.Conv1d(in_channels, num_maps, w, stride=stride, padding=padding)
                                   for w in filter_sizes)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_maps * sum(self._pooled_len(w) for w in filter_sizes), num_classes)

    # ------------------------------------------------------------------ shapes
    def _pooled_len(self, width):
        """Positions left per feature map after pooling the output of filters of this width."""
        if self.pool == "kmax":
            return self.k
        if self.pool_size is None:
            return 1
        if self.max_len is None:
            raise ValueError("TextCNN: windowed pooling (pool_size) needs max_len, since the output layer's "
                             "width depends on the sentence length")
        length = conv_out_len(self.max_len, width, self.stride, self.padding)
        if length < self.pool_size:
            raise ValueError(f"TextCNN: filters of width {width} give {length} positions for sentences of "
                             f"{self.max_len} words, fewer than the pooling window {self.pool_size}")
        return (length - self.pool_size) // self.pool_stride + 1

    def min_length(self):
        """The shortest input the convolutions and pooling accept (shorter sentences must be padded)."""
        need = self.k if self.pool == "kmax" else (self.pool_size or 1)
        return min_input_length(self.filter_sizes, self.stride, self.padding, need)

    # ----------------------------------------------------------------- forward
    def embed(self, ids, features=None):
        """The convolutions' input (N, E+F, L): embeddings (summed over channels) plus feature channels."""
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.ndim != 2:
            raise ValueError(f"TextCNN: ids must have shape (N, L), got {ids.shape}")
        if self.pool_size is not None and ids.shape[1] != self.max_len:
            raise ValueError(f"TextCNN: windowed pooling needs sentences of exactly max_len={self.max_len} "
                             f"words, got length {ids.shape[1]}")
        x = self.embedding(ids)
        if self.static_embedding is not None:
            x = x + self.static_embedding(ids)
        if self.feature_channels:
            if features is None:
                raise ValueError(f"TextCNN: this model reads {self.feature_channels} feature channels per token; "
                                 "pass features of shape (N, L, F)")
            features = features if isinstance(features, Tensor) else Tensor(np.asarray(features, np.float32))
            if features.shape != ids.shape + (self.feature_channels,):
                raise ValueError(f"TextCNN: features have shape {features.shape}, expected "
                                 f"{ids.shape + (self.feature_channels,)} for ids of shape {ids.shape}")
            x = cat([x, features], axis=2)
        elif features is not None and np.asarray(getattr(features, "data", features)).size:
            raise ValueError("TextCNN: features were given but this model was built with feature_channels=0")
        return x.transpose(0, 2, 1)

    def _activate(self, h):
        return F.relu(h) if self.activation == "relu" else F.tanh(h)

    def feature_maps(self, x):
        """Activations of every filter at every position, one (N, maps, L_out) tensor per filter width."""
        return [self._activate(conv(x)) for conv in self.convs]

    # ----------------------------------------------------------------- masking
    def lengths_of(self, ids):
        """Each sentence's length: the position after its last non-padding id (sentences are left-aligned)."""
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        positions = np.arange(1, ids.shape[1] + 1)
        return np.where(ids != self.embedding.padding_idx, positions, 0).max(axis=1, initial=0)

    def valid_positions(self, lengths, width, out_len):
        """(N, L_out) bool: the output positions the sentence would have if it were convolved alone.

        That is, the positions of a convolution over the sentence padded only
        to ``min_length()`` (Kim pads sentences shorter than the widest
        filter). Global pooling looks only at these, so a sentence scores the
        same however much padding its batch adds.
        """
        effective = np.maximum(np.asarray(lengths), self.min_length())
        own = conv_out_len(effective, width, self.stride, self.padding)
        return np.arange(out_len)[None, :] < own[:, None]

    # ----------------------------------------------------------------- pooling
    def pool_maps(self, h, valid=None):
        """Pool (N, maps, L_out) over time to (N, maps * pooled length); ``valid`` masks global pooling."""
        n = h.shape[0]
        if self.pool_size is not None:
            pool = F.max_pool1d if self.pool == "max" else F.avg_pool1d
            return pool(h, self.pool_size, self.pool_stride).reshape(n, -1)
        if self.pool == "avg":
            if valid is None:
                return h.mean(axis=2)
            mask = valid[:, None, :].astype(h.dtype)
            return (h * mask).sum(axis=2) / valid.sum(axis=1, keepdims=True).astype(h.dtype)
        if valid is not None:
            # The lowest float instead of -inf: nothing else can win the max, and no inf reaches the graph.
            h = h + np.where(valid, 0, np.finfo(h.dtype).min)[:, None, :].astype(h.dtype)
        if self.pool == "kmax":
            return k_max_pool1d(h, self.k).reshape(n, -1)
        return F.max_pool1d(h, h.shape[2]).reshape(n, -1)

    def _conv_pool(self, conv, x, lengths):
        h = conv(x)
        valid = None
        if self.pool_size is None and lengths is not None:
            valid = self.valid_positions(lengths, conv.kernel_size, h.shape[2])
            if valid.all():
                valid = None
        if self.pool == "avg":
            return self.pool_maps(self._activate(h), valid)
        # Max and k-max pooling commute with the activations, which never decrease (ReLU, tanh):
        # pooling first gives the same values and gradients and applies the activation to far
        # fewer numbers. (Where ties differ, all of them have zero gradient.)
        return self._activate(self.pool_maps(h, valid))

    def forward(self, ids, features=None, lengths=None):
        """Logits (N, classes). ``lengths`` (N,) defaults to the ids before the trailing padding."""
        x = self.embed(ids, features)
        if lengths is None and self.pool_size is None:
            lengths = self.lengths_of(ids)
        pooled = [self._conv_pool(conv, x, lengths) for conv in self.convs]
        z = pooled[0] if len(pooled) == 1 else cat(pooled, axis=1)
        return self.fc(self.dropout(z))

    # ------------------------------------------------------------- constraint
    def apply_max_norm(self):
        """Rescale each class's output weights to L2 norm at most ``max_norm`` (Kim's constraint)."""
        if self.max_norm is not None:
            max_norm_(self.fc.weight, self.max_norm, axis=0)

    @classmethod
    def from_config(cls, config, vectors=None):
        """A model with the architecture described by ``config`` (its weights are then loaded separately)."""
        config = dict(config)
        if config["mode"] != "rand" and vectors is None:
            # The weights come from a state_dict next; zeros only give the embedding its shape.
            vectors = np.zeros((config["vocab_size"], config["embed_dim"]), np.float32)
        return cls(vectors=vectors, **config)

    def extra_repr(self):
        pool = self.pool if self.pool_size is None else f"{self.pool}({self.pool_size}, {self.pool_stride})"
        if self.pool == "kmax":
            pool = f"kmax(k={self.k})"
        return f"mode={self.mode}, filters={list(self.filter_sizes)}, pool={pool}, activation={self.activation}"
