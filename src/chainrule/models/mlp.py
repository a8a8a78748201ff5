"""The multilayer perceptron: Linear layers with a nonlinearity (and optionally dropout) between them."""
import itertools

from .. import nn
from ..nn import init

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
# Each activation's usual initialisation: He et al. (2015) keeps ReLU layers' variance,
# Glorot & Bengio (2010) tanh and sigmoid layers'.
DEFAULT_INIT = {"relu": "he", "tanh": "xavier", "sigmoid": "xavier"}


class MLP(nn.Module):
    """``MLP(in_features, hidden=(64,), out_features=1, activation='relu', dropout=0.0, init=None)``.

    ``forward(x (..., in_features))`` -> ``(..., out_features)`` logits. Each
    hidden layer is Linear, activation, then Dropout(p) when ``dropout > 0``; the
    last layer is a plain Linear. The layers live in ``self.net``, an
    ``nn.Sequential``, so their names read ``net.0.weight``, ``net.3.bias``, ...

    ``init``: ``'small'`` (U(-0.01, 0.01), classic backprop), ``'xavier'``,
    ``'he'``, or ``'default'`` (PyTorch's Linear default). None picks the one
    suited to the activation. Biases start at zero except with ``'default'``.
    """

    def __init__(self, in_features, hidden=(64,), out_features=1, activation="relu", dropout=0.0, init=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        if isinstance(hidden, int):
            hidden = (hidden,)
        hidden = tuple(int(h) for h in hidden)
        if any(h < 1 for h in hidden) or in_features < 1 or out_features < 1:
            raise ValueError(f"MLP: layer sizes must be positive, got in_features={in_features}, hidden={hidden}, "
                             f"out_features={out_features}")
        if not 0 <= dropout < 1:
            raise ValueError(f"MLP: dropout must be in [0, 1), got {dropout}")
        init = init or DEFAULT_INIT[activation]
        if init not in ("small", "xavier", "he", "default"):
            raise ValueError(f"MLP: unknown init {init!r}; choose from 'small', 'xavier', 'he', 'default'")
        self.in_features, self.hidden, self.out_features = in_features, hidden, out_features
        self.activation, self.dropout, self.init = activation, dropout, init

        layers = []
        sizes = (in_features,) + hidden
        for n_in, n_out in itertools.pairwise(sizes):
            layers += [nn.Linear(n_in, n_out), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-1], out_features))
        self.net = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self):
        for layer in self.net:
            if not isinstance(layer, nn.Linear):
                continue
            if self.init == "default":
                layer.reset_parameters()
                continue
            if self.init == "he":
                init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            elif self.init == "xavier":
                init.xavier_uniform_(layer.weight, gain=init.calculate_gain(self.activation))
            else:
                init.small_uniform_(layer.weight)
            init.zeros_(layer.bias)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"MLP: input has {x.shape[-1]} features, expected {self.in_features} "
                             f"(input shape {tuple(x.shape)})")
        return self.net(x)

    def extra_repr(self):
        return (f"in_features={self.in_features}, hidden={self.hidden}, out_features={self.out_features}, "
                f"activation={self.activation!r}, dropout={self.dropout}, init={self.init!r}")
