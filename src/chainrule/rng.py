"""The random number generator behind randn, initialisers and dropout.

One seeded ``numpy.random.Generator``: ``manual_seed(s)`` makes every later
draw (weights, dropout masks, shuffles that ask for it) reproducible.
"""
import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    global _generator
    _generator = np.random.default_rng(numpy_seed(seed))
    return _generator


def numpy_seed(seed):
    """``seed`` as NumPy accepts it: a negative integer becomes its 64-bit two's complement, as
    ``torch.manual_seed`` takes it (NumPy refuses negative seeds); anything else is unchanged."""
    if isinstance(seed, (int, np.integer)) and seed < 0:
        return int(seed) % 2**64
    return seed


def generator():
    return _generator


def get_state():
    """The generator's state as JSON-friendly data, for checkpoints."""
    return _generator.bit_generator.state


def set_state(state):
    _generator.bit_generator.state = state
