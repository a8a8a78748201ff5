"""Parameter: a Tensor that a Module owns and an optimiser updates."""
import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        data = np.asarray(data)
        if not np.issubdtype(data.dtype, np.floating):
            raise TypeError(f"a Parameter holds floating-point data, got {data.dtype}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
