"""chainrule: deep learning on natural language, on its own reverse-mode autodiff engine.

    import chainrule as cr
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # array([2., 4.], dtype=float32)
"""
from . import threads  # noqa: F401,I001  (first: OpenBLAS reads its settings when NumPy loads)
from . import backend
from .creation import arange, cat, concatenate, ones, ones_like, rand, randn, stack, tensor, where, zeros, zeros_like
from .grad_mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .rng import manual_seed
from .scalar import Scalar
from .tensor import Tensor

__version__ = "0.1.0"

__all__ = [
    "GradcheckError",
    "Scalar",
    "Tensor",
    "arange",
    "backend",
    "cat",
    "concatenate",
    "detect_anomaly",
    "enable_grad",
    "exp",
    "float32",
    "float64",
    "gradcheck",
    "int64",
    "is_grad_enabled",
    "log",
    "manual_seed",
    "no_grad",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "relu",
    "set_grad_enabled",
    "sigmoid",
    "sqrt",
    "stack",
    "tanh",
    "tensor",
    "where",
    "zeros",
    "zeros_like",
]

float32 = backend.np.float32
float64 = backend.np.float64
int64 = backend.np.int64


def exp(x):
    return x.exp()


def log(x):
    return x.log()


def sqrt(x):
    return x.sqrt()


def tanh(x):
    return x.tanh()


def sigmoid(x):
    return x.sigmoid()


def relu(x):
    return x.relu()


def __getattr__(name):
    # Submodules that pull in more (files, plotting) load on first use.
    import importlib
    if name in ("nn", "optim", "functional", "graph", "serialization"):
        return importlib.import_module(f".{name}", __name__)
    if name in ("save", "load"):
        return getattr(importlib.import_module(".serialization", __name__), name)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
