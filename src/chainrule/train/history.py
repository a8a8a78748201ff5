"""History: the per-epoch metrics of a run, saved as JSON and drawn as a PNG."""
import json
import math
import os

from .atomic import atomic_open, atomic_write_json


class History:
    """Metrics recorded once per epoch, as a dict of equally long lists.

        history = History()
        history.record(epoch=1, train_loss=5.1, val_loss=5.3, val_ppl=200.3)
        history["val_loss"]          # [5.3]
        history.save(run.history)    # DIR/history.json
        history.plot("curves.png")   # losses in one panel, each other metric in its own

    A metric missing from some epochs is stored as None there, so every list
    lines up with ``history["epoch"]``.
    """

    def __init__(self, metrics=None):
        self.metrics = {}
        self._length = 0
        if metrics:
            self.load_state_dict(metrics)

    def record(self, **values):
        """Append one epoch's values; names not seen before get None for earlier epochs."""
        for name in values:
            if name not in self.metrics:
                self.metrics[name] = [None] * self._length
        for name, column in self.metrics.items():
            value = values.get(name)
            column.append(_plain(value))
        self._length += 1

    def __len__(self):
        return self._length

    def __getitem__(self, name):
        return self.metrics[name]

    def __contains__(self, name):
        return name in self.metrics

    def last(self, name, default=None):
        column = self.metrics.get(name)
        return column[-1] if column else default

    def best(self, name, mode="min"):
        """(value, index) of the best recorded value of ``name``, ignoring None and NaN."""
        pairs = [(v, i) for i, v in enumerate(self.metrics.get(name, [])) if v is not None and not _isnan(v)]
        if not pairs:
            return None, None
        pick = min if mode == "min" else max
        return pick(pairs, key=lambda p: p[0])

    # ------------------------------------------------------------------ state
    def state_dict(self):
        return {name: list(column) for name, column in self.metrics.items()}

    def load_state_dict(self, state):
        lengths = {len(column) for column in state.values()}
        if len(lengths) > 1:
            raise ValueError(f"History: the metric lists have different lengths {sorted(lengths)}")
        self.metrics = {name: list(column) for name, column in state.items()}
        self._length = lengths.pop() if lengths else 0

    def save(self, path):
        atomic_write_json(path, self.state_dict())

    @classmethod
    def load(cls, path):
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"no history file at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path} is not a valid history file: {e}") from None
        if not isinstance(state, dict) or not all(isinstance(v, list) for v in state.values()):
            raise ValueError(f"{path} is not a valid history file: expected an object of metric lists")
        return cls(state)

    # --------------------------------------------------------------- drawing
    def plot(self, path, metrics=None, title=None, x="epoch"):
        """Write a PNG of the curves to ``path``.

        ``metrics`` lists what to draw; an entry that is itself a list or tuple
        of names shares one panel; panels go three to a row. By default every
        metric whose name ends in "loss" shares the first panel and each other
        numeric metric gets its own (perplexity and accuracy have scales that
        do not mix with loss).
        """
        Figure = _figure_class()
        panels = self._panels(metrics, x)
        if not panels:
            raise ValueError(f"History.plot: nothing to draw; recorded metrics are {sorted(self.metrics)}")
        xs = self.metrics.get(x) or list(range(1, self._length + 1))
        cols = min(3, len(panels))
        rows = -(-len(panels) // cols)
        fig = Figure(figsize=(5 * cols, 3.6 * rows))
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        for ax, names in zip(axes, panels):
            for name in names:
                points = [(a, b) for a, b in zip(xs, self.metrics[name]) if b is not None]
                if points:
                    ax.plot(*zip(*points), marker="o", markersize=3, label=name)
            ax.set_xlabel(x)
            ax.set_ylabel(names[0] if len(names) == 1 else "loss")
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=100)

    def _panels(self, metrics, x):
        if metrics is not None:
            panels = [[m] if isinstance(m, str) else list(m) for m in metrics]
            unknown = [name for names in panels for name in names if name not in self.metrics]
            if unknown:
                raise KeyError(f"History.plot: no metric {unknown}; recorded metrics are {sorted(self.metrics)}")
            return panels
        numeric = [name for name, column in self.metrics.items()
                   if name != x and any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column)]
        losses = [name for name in numeric if name.endswith("loss")]
        panels = [losses] if losses else []
        return panels + [[name] for name in numeric if name not in losses]

    def __repr__(self):
        return f"History({self._length} epochs: {', '.join(self.metrics)})"


def _plain(value):
    # NumPy scalars and 0-d arrays become Python numbers so the history is JSON.
    if hasattr(value, "item") and getattr(value, "size", 1) == 1:
        return value.item()
    return value


def _isnan(value):
    return isinstance(value, float) and math.isnan(value)


def _figure_class():
    # A bare Figure renders with Agg and never touches pyplot's global backend
    # or window state, so it works on headless servers and inside notebooks alike.
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting training curves needs matplotlib: pip install 'chainrule[viz]' "
                          "(or pip install matplotlib)") from None
    return Figure
