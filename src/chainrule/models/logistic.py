"""Logistic regression, the lecture's first model: one linear layer and a sigmoid (or a softmax).

Binary: p(y=1 | x) = sigmoid(w·x + b). With the mean binary cross-entropy
the gradient is the closed form dL/dw_j = mean_i (sigmoid(w·x_i + b) - y_i) x_ij,
which the tests check autodiff against. Multinomial (``num_classes > 2`` or
``multinomial=True``): p(y | x) = softmax(W x + b), trained with cross-entropy.

``forward`` returns logits, as PyTorch models do; the losses take logits so
the sigmoid / softmax is fused into a stable loss and never formed on its own.
"""
import numpy as np

from .. import functional as F
from .. import nn
from ..grad_mode import no_grad
from ..tensor import Tensor


class LogisticRegression(nn.Module):
    """``forward(x (N, in_features))`` -> logits, (N,) when binary, (N, num_classes) when multinomial.

    The weights start at zero: the loss is convex, so there is no symmetry to
    break and every run gives the same model.
    """

    def __init__(self, in_features, num_classes=2, multinomial=None):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"LogisticRegression needs at least 2 classes, got {num_classes}")
        self.in_features, self.num_classes = in_features, num_classes
        self.multinomial = num_classes > 2 if multinomial is None else bool(multinomial)
        if not self.multinomial and num_classes != 2:
            raise ValueError(f"binary logistic regression has 2 classes, got num_classes={num_classes}; "
                             f"use multinomial=True")
        self.linear = nn.Linear(in_features, num_classes if self.multinomial else 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"LogisticRegression: input has {x.shape[-1]} features, expected {self.in_features} "
                             f"(input shape {tuple(x.shape)})")
        z = self.linear(x)
        return z if self.multinomial else z.reshape(z.shape[:-1])

    def loss(self, logits, targets, reduction="mean"):
        """Binary cross-entropy on logits, or softmax cross-entropy when multinomial."""
        t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
        if self.multinomial:
            if not np.issubdtype(t.dtype, np.integer) and not (t == np.round(t)).all():
                raise ValueError("LogisticRegression.loss: multinomial targets are class indices, got fractional "
                                 "values")
            return F.cross_entropy(logits, t.astype(np.int64), reduction=reduction)
        if t.size and not ((t >= 0) & (t <= 1)).all():  # soft labels in [0, 1] are fine
            raise ValueError(f"LogisticRegression.loss: binary targets must lie in [0, 1], got values from "
                             f"{t.min()} to {t.max()}")
        return F.binary_cross_entropy_with_logits(logits, Tensor(t.astype(logits.dtype)), reduction=reduction)

    def predict_proba(self, x):
        """p(y=1 | x) of shape (N,) when binary; the (N, num_classes) class probabilities otherwise."""
        with no_grad():
            z = self.forward(x if isinstance(x, Tensor) else Tensor(x))
            return (F.softmax(z, axis=-1) if self.multinomial else F.sigmoid(z)).data

    def predict(self, x):
        """Class labels (N,): p > 0.5 when binary, the most probable class otherwise."""
        p = self.predict_proba(x)
        return p.argmax(axis=-1) if self.multinomial else (p > 0.5).astype(np.int64)

    def extra_repr(self):
        kind = "multinomial" if self.multinomial else "binary"
        return f"in_features={self.in_features}, num_classes={self.num_classes}, {kind}"
