"""chainrule.nn: modules and layers, named and behaving as torch.nn."""
from . import init
from .layers import (
                     AvgPool1d,
                     BCEWithLogitsLoss,
                     Conv1d,
                     CrossEntropyLoss,
                     Dropout,
                     Embedding,
                     Flatten,
                     Identity,
                     Linear,
                     MaxPool1d,
                     ModuleList,
                     ReLU,
                     Sequential,
                     Sigmoid,
                     Tanh,
)
from .module import Module
from .parameter import Parameter

__all__ = ["init", "Module", "Parameter", "Linear", "Embedding", "Conv1d", "MaxPool1d", "AvgPool1d", "Dropout",
           "Sigmoid", "Tanh", "ReLU", "Identity", "Flatten", "Sequential", "ModuleList", "CrossEntropyLoss",
           "BCEWithLogitsLoss"]
