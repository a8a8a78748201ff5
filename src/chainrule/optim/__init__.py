"""chainrule.optim: optimisers, gradient clipping and learning-rate schedules, as in torch.optim.

    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss.backward(); optim.clip_grad_norm_(model.parameters(), 5.0); opt.step(); opt.zero_grad()
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .adaptive import Adadelta, Adagrad
from .averaging import ExponentialMovingAverage
from .clip import clip_grad_norm_, clip_grad_value_, max_norm_
from .lr_scheduler import ExponentialLR, ReduceLROnPlateau, StepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "Adam", "AdamW", "clip_grad_norm_", "clip_grad_value_",
           "max_norm_", "ExponentialMovingAverage", "lr_scheduler", "StepLR", "ExponentialLR", "ReduceLROnPlateau"]
