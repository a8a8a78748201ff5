"""Bengio et al. (2003)'s feedforward neural language model.

The previous n-1 words are looked up in one embedding table E, their vectors
are concatenated, e = (E[x1], ..., E[x(n-1)]), and the next word's
distribution is

    h = tanh(W e + b),   z = U h + d (+ W_d e),   p = softmax(z)

The optional ``W_d e`` term is the paper's "direct connections" from the
embeddings to the output. With ``tie=True`` the output weights U are the
embedding table E itself (Press & Wolf 2017, "Using the Output Embedding to
Improve Language Models"): z = E h + d, which needs hidden == emb_dim. One
table then learns from both ends of the model, which regularises it on
corpora of a million words. The model returns the logits z; training applies
the fused ``F.cross_entropy`` to them, so the V-wide softmax is formed once.
"""
import numpy as np

from .. import functional as F
from .. import nn
from ..tensor import Tensor


class NeuralLM(nn.Module):
    """``forward(ids (B, n-1)) -> logits (B, V)``.

    ``pretrained`` is a (V, emb_dim) array whose rows follow the vocabulary's
    ids (see ``chainrule.lm.embeddings.vectors_for_vocab``); with
    ``freeze=True`` those vectors stay fixed, otherwise they are fine-tuned.
    """

    def __init__(self, vocab_size, context_size, emb_dim=60, hidden=100, direct=False, dropout=0.0,
                 pretrained=None, freeze=False, tie=False):
        super().__init__()
        if context_size < 1:
            raise ValueError(f"NeuralLM: context_size must be at least 1, got {context_size}")
        if tie:
            self.check_tie(emb_dim, hidden, freeze)
        self.vocab_size, self.context_size = vocab_size, context_size
        self.emb_dim, self.hidden_size, self.p, self.frozen = emb_dim, hidden, dropout, bool(freeze)
        if pretrained is not None:
            pretrained = np.asarray(pretrained, dtype=np.float32)
            if pretrained.shape != (vocab_size, emb_dim):
                raise ValueError(f"NeuralLM: pretrained vectors have shape {pretrained.shape}, "
                                 f"expected (vocab_size, emb_dim) = ({vocab_size}, {emb_dim})")
            self.embedding = nn.Embedding.from_pretrained(pretrained, freeze=freeze)
        else:
            self.embedding = nn.Embedding(vocab_size, emb_dim)
            # N(0, 1) rows (PyTorch's default) saturate tanh once several are
            # concatenated; Bengio's small uniform start trains faster.
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
            if freeze:
                self.embedding.freeze()
        width = context_size * emb_dim
        self.hidden = nn.Linear(width, hidden)
        if tie:
            self.output = None
            self.output_bias = nn.Parameter(np.zeros(vocab_size, dtype=np.float32))
        else:
            self.output = nn.Linear(hidden, vocab_size)
        # Direct connections start at zero, so the model starts as the plain MLP.
        self.direct = nn.Linear(width, vocab_size, bias=False) if direct else None
        if self.direct is not None:
            nn.init.zeros_(self.direct.weight)
        self.dropout = nn.Dropout(dropout)

    @staticmethod
    def check_tie(emb_dim, hidden, freeze):
        """Tied weights need hidden == emb_dim and a trainable table (LMConfig checks this before loading data)."""
        if hidden != emb_dim:
            raise ValueError(f"NeuralLM: tie=True uses the embedding table as the output weights, so hidden "
                             f"must equal emb_dim; got hidden={hidden}, emb_dim={emb_dim}")
        if freeze:
            raise ValueError("NeuralLM: tie=True trains the embedding table as the output weights; "
                             "it cannot be frozen too")

    def forward(self, ids):
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.ndim != 2 or ids.shape[1] != self.context_size:
            raise ValueError(f"NeuralLM: expected context ids of shape (batch, {self.context_size}), "
                             f"got {ids.shape}")
        e = self.embedding(ids).reshape(ids.shape[0], -1)
        e = self.dropout(e)
        h = self.dropout(self.hidden(e).tanh())
        if self.output is None:  # tied: U = E
            z = F.linear(h, self.embedding.weight, self.output_bias)
        else:
            z = self.output(h)
        if self.direct is not None:
            z = z + self.direct(e)
        return z

    def log_probs(self, contexts, targets, batch_size=2048):
        """Natural-log probability of each ``targets[i]`` after ``contexts[i]``, as float64 (N,).

        Runs in eval mode and without a graph; batches keep the (batch, V)
        logits small.
        """
        from ..grad_mode import no_grad

        contexts, targets = np.asarray(contexts), np.asarray(targets)
        if len(contexts) != len(targets):
            raise ValueError(f"log_probs: {len(contexts)} contexts but {len(targets)} targets")
        vocab_size = self.vocab_size
        if targets.size and (targets.min() < 0 or targets.max() >= vocab_size):
            bad = targets.min() if targets.min() < 0 else targets.max()
            raise ValueError(f"log_probs: target id {bad} is outside the vocabulary of {vocab_size} words")
        was_training = self.training
        self.eval()
        out = np.empty(len(targets), dtype=np.float64)
        try:
            with no_grad():
                for start in range(0, len(targets), batch_size):
                    z = self(contexts[start:start + batch_size]).data
                    t = targets[start:start + batch_size]
                    m = z.max(axis=1, keepdims=True)
                    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
                    out[start:start + len(t)] = z[np.arange(len(t)), t] - lse
        finally:
            self.train(was_training)
        return out

    def next_log_probs(self, contexts):
        """Log-probabilities over the whole vocabulary (B, V) after each context, as float64."""
        from ..grad_mode import no_grad

        was_training = self.training
        self.eval()
        try:
            with no_grad():
                z = self(np.asarray(contexts)).data.astype(np.float64)
        finally:
            self.train(was_training)
        m = z.max(axis=1, keepdims=True)
        return z - (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))

    def config(self):
        """The constructor's arguments (without pretrained vectors), for config.json."""
        return {"vocab_size": self.vocab_size, "context_size": self.context_size, "emb_dim": self.emb_dim,
                "hidden": self.hidden_size, "direct": self.direct is not None, "dropout": self.p, "freeze": self.frozen,
                "tie": self.output is None}

    def extra_repr(self):
        return (f"vocab={self.vocab_size}, context={self.context_size}, emb={self.emb_dim}, "
                f"hidden={self.hidden_size}, direct={self.direct is not None}, dropout={self.p}, "
                f"tie={self.output is None}")
