"""``chainrule demo``: a tour of what chainrule does, one step after another (``make demo`` runs it).

Each step is a function taking the parsed arguments and added to ``STEPS``
with a name, so ``--only explain,mlp`` picks some; a later job joins the tour
by adding one entry. The steps, in order: the neural language model against
Kneser-Ney on the KJV, a short TextCNN comparison on movie reviews, the
backprop explainer on the lecture's example, then a logistic regression and
a small MLP with dropout trained on scikit-learn's breast-cancer data (569
tumours, 30 features; it ships inside the scikit-learn wheel, so nothing is
downloaded).
"""
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..rng import numpy_seed
from . import CLIError


@dataclass
class Step:
    name: str
    help: str
    run: callable  # run(args) -> dict of results for the closing summary, or None


def register(subparsers):
    p = subparsers.add_parser(
        "demo", help="a short tour: the backprop explainer, then models trained on real data",
        description="Run the demo steps in order: " + "; ".join(f"{s.name}: {s.help}" for s in STEPS) + ".")
    p.add_argument("--only", metavar="STEPS", help=f"comma-separated steps to run (of {', '.join(STEP_NAMES)})")
    p.add_argument("--epochs", type=int, default=None, help="epochs for every training step (default: per step)")
    p.add_argument("--seed", type=int, default=0, help="seed for the data split, weights and dropout")
    p.add_argument("--out", default="demo_output", metavar="DIR",
                   help="folder for the drawn graphs (default demo_output; '' writes nothing)")
    p.set_defaults(func=run)


def run(args):
    chosen = _chosen_steps(args.only)
    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    summary = []
    for i, step in enumerate(chosen, 1):
        print(f"\n=== {i}/{len(chosen)} {step.name}: {step.help} ===\n", flush=True)
        started = time.perf_counter()
        result = step.run(args)
        if result:
            summary.append((step.name, result, time.perf_counter() - started))
    if summary:
        print("\n=== summary ===")
        for name, result, seconds in summary:
            shown = ",  ".join(f"{k} {v:.1%}" if "acc" in k else f"{k} {v:.4g}" for k, v in result.items())
            print(f"  {name:<10} {shown}   ({seconds:.1f}s)")
    return 0


def _chosen_steps(only):
    if not only:
        return list(STEPS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in STEP_NAMES]
    if unknown:
        raise CLIError(f"unknown demo step {', '.join(unknown)}; the steps are {', '.join(STEP_NAMES)}")
    if not names:
        raise CLIError(f"--only names no step; the steps are {', '.join(STEP_NAMES)}")
    return [s for s in STEPS if s.name in names]


# ---------------------------------------------------------------- the steps
def explain_step(args):
    from ..explain import explain

    explanation = explain("c*(a+2*b)", {"a": 3, "b": 1, "c": -2})
    print(explanation.text(), end="")
    if args.out:
        _draw(explanation.draw, os.path.join(args.out, "explain.svg"))


def logistic_step(args):
    from .. import optim
    from ..models.logistic import LogisticRegression

    data = breast_cancer(args.seed)
    _seed(args.seed)
    model = LogisticRegression(data["x_train"].shape[1])
    opt = optim.SGD(model.parameters(), lr=0.1)
    print(f"logistic regression on {data['description']}, SGD lr=0.1, binary cross-entropy")
    return _train(model, opt, data, epochs=args.epochs or 15, loss=model.loss,
                  predict=lambda logits: (logits.data > 0).astype(np.int64))


def mlp_step(args):
    from .. import functional as F
    from .. import optim
    from ..models.mlp import MLP

    data = breast_cancer(args.seed)
    _seed(args.seed)
    model = MLP(data["x_train"].shape[1], hidden=(32, 16), out_features=2, activation="relu", dropout=0.2)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    print(f"MLP 30-32-16-2 (ReLU, dropout 0.2) on {data['description']}, Adam lr=3e-3, cross-entropy")
    result = _train(model, opt, data, epochs=args.epochs or 20, loss=F.cross_entropy,
                    predict=lambda logits: logits.data.argmax(axis=-1))
    if args.out:
        _draw_model_graph(model, data, os.path.join(args.out, "mlp_graph.svg"))
    return result


def lm_step(args):
    from ..lm.compare import demo

    out = os.path.join(args.out, "lm_kjv") if args.out else None
    if out and os.path.isdir(out):
        if not _is_demo_run(out):
            raise CLIError(f"{out} holds something the demo did not write; choose another --out")
        # The demo's own run from an earlier `make demo`: start afresh rather than refuse to overwrite it.
        print(f"replacing the previous demo run in {out}")
        shutil.rmtree(out)
    result = demo("kjv", out_dir=out, epochs=args.epochs, seed=args.seed)
    return {f"{row.name} test ppl": row.test.ppl for row in (result.best_ngram, result.neural, result.mixture)}


def _is_demo_run(folder):
    """Whether ``folder`` holds a language-model run with the demo's model settings (so it may be replaced)."""
    from ..lm.compare import DEMO_CONFIG
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            train = json.load(f)["train"]
    except (OSError, ValueError, KeyError, TypeError):
        return not os.listdir(folder)  # an empty folder is free; anything else unknown is kept
    return all(train.get(k) == v for k, v in DEMO_CONFIG.items() if k not in ("epochs", "seed"))


def cnn_step(args):
    from ..cnn.compare import demo_run

    rows = demo_run(seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}))
    return {f"{name} acc": result.accuracy[0] for name, result in rows or ()}


STEPS = [
    Step("lm", "Kneser-Ney orders 2-5, Bengio's neural LM and their mixture on the King James Bible", lm_step),
    Step("cnn", "Kim's TextCNN (rand, non-static GloVe) against bag-of-n-grams on movie reviews", cnn_step),
    Step("explain", "backpropagation step by step on L = c*(a+2*b)", explain_step),
    Step("logistic", "logistic regression on breast-cancer data", logistic_step),
    Step("mlp", "an MLP with dropout on the same data", mlp_step),
]
STEP_NAMES = [s.name for s in STEPS]


# ------------------------------------------------------------------ helpers
def breast_cancer(seed, test_fraction=0.2):
    """scikit-learn's breast-cancer data, split by a seeded permutation and standardised on the training part."""
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError:
        raise CLIError("the demo's data comes with scikit-learn: pip install 'chainrule[data]' "
                       "(or pip install scikit-learn)") from None
    from ..preprocessing import Standardizer

    bunch = load_breast_cancer()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    order = np.random.default_rng(numpy_seed(seed)).permutation(len(x))
    n_test = round(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    scaler = Standardizer().fit(x[train])
    return {"x_train": scaler.transform(x[train]), "y_train": y[train],
            "x_test": scaler.transform(x[test]), "y_test": y[test],
            "description": f"breast cancer ({len(train)} train / {len(test)} held-out, {x.shape[1]} features)"}


def _seed(seed):
    from .. import manual_seed
    manual_seed(seed)


def _train(model, opt, data, epochs, loss, predict, batch_size=32):
    """Mini-batch training with chainrule.train.fit; per-epoch loss and accuracy, train and held-out."""
    from ..tensor import Tensor
    from ..train import BatchSampler, fit

    x_train, y_train = Tensor(data["x_train"]), data["y_train"]
    x_test, y_test = Tensor(data["x_test"]), data["y_test"]
    sampler = BatchSampler(len(y_train), batch_size=batch_size, shuffle=True)

    def train_step(idx):
        value = loss(model(x_train[idx]), y_train[idx])
        opt.zero_grad()
        value.backward()
        opt.step()
        return value.item(), len(idx)

    def evaluate():  # fit runs this in eval mode (no dropout) without recording a graph
        train_logits, test_logits = model(x_train), model(x_test)
        return {"train_acc": float((predict(train_logits) == y_train).mean()),
                "test_loss": loss(test_logits, y_test).item(),
                "test_acc": float((predict(test_logits) == y_test).mean())}

    # Monitored on the training loss: "(best)" on the test set would read as choosing by it.
    result = fit(model, opt, sampler, train_step, evaluate, epochs=epochs, monitor="train_loss",
                 unit="example", log=lambda text: print(text, flush=True))
    return {k: result.metrics[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")}


def _draw(draw, path):
    from ..graph import GraphvizNotFoundWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GraphvizNotFoundWarning)
        written = draw(path)
    for w in caught:
        print(f"note: {w.message}")
    print(f"\ndrew the graph: {written}")


def _draw_model_graph(model, data, path):
    """One training step's graph, one box per module, with the gradients of a backward pass."""
    from .. import functional as F
    from .. import graph
    from ..tensor import Tensor

    model.eval()
    x = Tensor(data["x_train"][:8])
    loss = F.cross_entropy(model(x), data["y_train"][:8])
    graph.retain_all(loss)
    loss.backward(retain_graph=True)
    _draw(lambda p: graph.draw(loss, p, collapse_modules=True, names=model, title="MLP loss, one box per module"),
          path)
    model.zero_grad()
