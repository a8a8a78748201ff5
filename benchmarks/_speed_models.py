"""The two training steps of ``bench_speed.py``, written once per library.

Each ``make_*`` function returns a zero-argument ``step()`` that runs one
training step (forward, loss, backward, optimiser update) on the next batch
of a fixed list, and returns the loss as something ``loss_value`` turns into
a float. Every library starts from the same NumPy weights (``*_weights``),
in PyTorch's layout, and sees the same batches, so the losses of the first
steps must agree; ``bench_speed.py`` checks that they do.

The peers without optimisers of their own (HIPS autograd, mygrad) update
their arrays with the NumPy functions at the bottom of this file, written
as tightly as the library would let a user write them.
"""
import itertools
import os

import numpy as np

NPLM = {"vocab": 10000, "context": 5, "emb": 64, "hidden": 256, "batch": 512}
TEXTCNN = {"vocab": 20000, "emb": 300, "length": 50, "kernels": (3, 4, 5), "filters": 100, "batch": 50,
           "classes": 2, "dropout": 0.5}

LR = {"sgd": 0.1, "adam": 1e-3, "adadelta": 1.0}
N_BATCHES = 8  # the step cycles through this many fixed batches


# ----------------------------------------------------------------- the data
def _zipf_ids(rng, vocab, shape):
    # Word ids with a Zipf-like spread, as in text: a few rows are hit many
    # times per batch, most rows never, which is what embedding gradients see.
    ranks = rng.zipf(1.2, size=shape) - 1
    return (ranks % vocab).astype(np.int64)


def nplm_batches(seed=0):
    rng = np.random.default_rng(seed)
    c = NPLM
    return [(_zipf_ids(rng, c["vocab"], (c["batch"], c["context"])), _zipf_ids(rng, c["vocab"], (c["batch"],)))
            for _ in range(N_BATCHES)]


def textcnn_batches(seed=0):
    rng = np.random.default_rng(seed)
    c = TEXTCNN
    return [(_zipf_ids(rng, c["vocab"], (c["batch"], c["length"])), rng.integers(0, c["classes"], c["batch"]))
            for _ in range(N_BATCHES)]


def _uniform(rng, bound, *shape):
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def nplm_weights(seed=0):
    """Initial weights in PyTorch's layout (Linear weight is (out, in))."""
    rng = np.random.default_rng(seed)
    c = NPLM
    n_in = c["context"] * c["emb"]
    return {"emb": (0.1 * rng.standard_normal((c["vocab"], c["emb"]))).astype(np.float32),
            "w1": _uniform(rng, n_in ** -0.5, c["hidden"], n_in), "b1": _uniform(rng, n_in ** -0.5, c["hidden"]),
            "w2": _uniform(rng, c["hidden"] ** -0.5, c["vocab"], c["hidden"]),
            "b2": _uniform(rng, c["hidden"] ** -0.5, c["vocab"])}


def textcnn_weights(seed=0):
    rng = np.random.default_rng(seed)
    c = TEXTCNN
    w = {"emb": _uniform(rng, 0.25, c["vocab"], c["emb"])}
    for k in c["kernels"]:
        bound = (c["emb"] * k) ** -0.5
        w[f"conv{k}.w"] = _uniform(rng, bound, c["filters"], c["emb"], k)
        w[f"conv{k}.b"] = _uniform(rng, bound, c["filters"])
    n_feat = c["filters"] * len(c["kernels"])
    w["fc.w"] = _uniform(rng, n_feat ** -0.5, c["classes"], n_feat)
    w["fc.b"] = _uniform(rng, n_feat ** -0.5, c["classes"])
    return w


def nplm_flops():
    """Multiply-adds x 2 of one NPLM step: forward, plus two products per Linear on the way back."""
    c = NPLM
    forward = 2 * c["batch"] * (c["context"] * c["emb"] * c["hidden"] + c["hidden"] * c["vocab"])
    return 3 * forward


def loss_value(loss):
    if hasattr(loss, "item"):
        return float(loss.item())
    return float(loss)


# ---------------------------------------------------------------- chainrule
def make_chainrule(model, opt_name, dropout=True, seed=0):
    import chainrule.functional as F
    from chainrule import nn, optim

    if model == "nplm":
        c, w, batches = NPLM, nplm_weights(seed), nplm_batches(seed)
        emb = nn.Embedding(c["vocab"], c["emb"])
        fc1 = nn.Linear(c["context"] * c["emb"], c["hidden"])
        fc2 = nn.Linear(c["hidden"], c["vocab"])
        for param, key in ((emb.weight, "emb"), (fc1.weight, "w1"), (fc1.bias, "b1"),
                           (fc2.weight, "w2"), (fc2.bias, "b2")):
            param.data[...] = w[key]
        params = [emb.weight, fc1.weight, fc1.bias, fc2.weight, fc2.bias]

        def forward(ids, targets):
            x = emb(ids).reshape(ids.shape[0], -1)
            return F.cross_entropy(fc2(fc1(x).tanh()), targets)
    else:
        c, w, batches = TEXTCNN, textcnn_weights(seed), textcnn_batches(seed)
        emb = nn.Embedding(c["vocab"], c["emb"])
        emb.weight.data[...] = w["emb"]
        convs = [(nn.Parameter(w[f"conv{k}.w"]), nn.Parameter(w[f"conv{k}.b"])) for k in c["kernels"]]
        fc_w, fc_b = nn.Parameter(w["fc.w"]), nn.Parameter(w["fc.b"])
        params = [emb.weight] + [p for pair in convs for p in pair] + [fc_w, fc_b]
        p_drop = c["dropout"] if dropout else 0.0
        from chainrule import cat

        def forward(ids, targets):
            x = emb(ids).transpose(1, 2)  # (N, emb, L): channels first, as conv1d wants
            pooled = [F.conv1d(x, cw, cb).relu().max(axis=2) for cw, cb in convs]
            h = F.dropout(cat(pooled, axis=1), p_drop, training=True)
            return F.cross_entropy(F.linear(h, fc_w, fc_b), targets)

    opt = {"sgd": lambda: optim.SGD(params, lr=LR["sgd"]), "adam": lambda: optim.Adam(params, lr=LR["adam"]),
           "adadelta": lambda: optim.Adadelta(params, lr=LR["adadelta"])}[opt_name]()
    batch_iter = itertools.cycle(batches)

    def step():
        ids, targets = next(batch_iter)
        loss = forward(ids, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


# ------------------------------------------------------------------ PyTorch
def torch_adam_kind():
    """'fused' if PyTorch's fused Adam runs on this CPU, else 'foreach'."""
    import torch
    try:
        p = torch.nn.Parameter(torch.zeros(2))
        p.grad = torch.ones(2)
        torch.optim.Adam([p], fused=True).step()
        return "fused"
    except (RuntimeError, TypeError):
        return "foreach"


def make_torch(model, opt_name, dropout=True, seed=0):
    import torch
    fn = torch.nn.functional
    t = torch.from_numpy

    if model == "nplm":
        c, w, batches = NPLM, nplm_weights(seed), nplm_batches(seed)
        emb = torch.nn.Embedding(c["vocab"], c["emb"])
        fc1 = torch.nn.Linear(c["context"] * c["emb"], c["hidden"])
        fc2 = torch.nn.Linear(c["hidden"], c["vocab"])
        with torch.no_grad():
            for param, key in ((emb.weight, "emb"), (fc1.weight, "w1"), (fc1.bias, "b1"),
                               (fc2.weight, "w2"), (fc2.bias, "b2")):
                param.copy_(t(w[key]))
        params = [*emb.parameters(), *fc1.parameters(), *fc2.parameters()]

        def forward(ids, targets):
            x = emb(ids).reshape(ids.shape[0], -1)
            return fn.cross_entropy(fc2(torch.tanh(fc1(x))), targets)
    else:
        c, w, batches = TEXTCNN, textcnn_weights(seed), textcnn_batches(seed)
        emb = torch.nn.Embedding(c["vocab"], c["emb"])
        with torch.no_grad():
            emb.weight.copy_(t(w["emb"]))
        convs = [(torch.nn.Parameter(t(w[f"conv{k}.w"].copy())), torch.nn.Parameter(t(w[f"conv{k}.b"].copy())))
                 for k in c["kernels"]]
        fc_w, fc_b = torch.nn.Parameter(t(w["fc.w"].copy())), torch.nn.Parameter(t(w["fc.b"].copy()))
        params = [emb.weight] + [p for pair in convs for p in pair] + [fc_w, fc_b]
        p_drop = c["dropout"] if dropout else 0.0

        def forward(ids, targets):
            x = emb(ids).transpose(1, 2)
            pooled = [torch.relu(fn.conv1d(x, cw, cb)).amax(dim=2) for cw, cb in convs]
            h = fn.dropout(torch.cat(pooled, dim=1), p_drop, training=True)
            return fn.cross_entropy(fn.linear(h, fc_w, fc_b), targets)

    if opt_name == "adam":
        opt = torch.optim.Adam(params, lr=LR["adam"], **{torch_adam_kind(): True})
    elif opt_name == "sgd":
        opt = torch.optim.SGD(params, lr=LR["sgd"])
    else:
        opt = torch.optim.Adadelta(params, lr=LR["adadelta"])
    batch_iter = itertools.cycle([(t(ids), t(targets)) for ids, targets in batches])

    def step():
        ids, targets = next(batch_iter)
        loss = forward(ids, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach()
    return step


# --------------------------------------------- HIPS autograd and mygrad
def _peer_params(model, seed):
    """The weights in the layout the peers' code below uses: convolutions as (k * emb, filters) matrices."""
    if model == "nplm":
        w = nplm_weights(seed)
        return [w["emb"], w["w1"], w["b1"], w["w2"], w["b2"]], nplm_batches(seed)
    w = textcnn_weights(seed)
    params = [w["emb"]]
    for k in TEXTCNN["kernels"]:
        # im2col column j * emb + c holds x[t + j, c], so weight[f, c, j] goes to row j * emb + c.
        params += [np.ascontiguousarray(w[f"conv{k}.w"].transpose(2, 1, 0).reshape(-1, TEXTCNN["filters"])),
                   w[f"conv{k}.b"]]
    return params + [w["fc.w"], w["fc.b"]], textcnn_batches(seed)


def _textcnn_forward(xp, params, ids, mask, concatenate, relu):
    """TextCNN as the peers can write it: each convolution as one im2col matrix product."""
    emb, *conv_params, fc_w, fc_b = params
    x = emb[ids]  # (N, L, emb)
    length = ids.shape[1]
    pooled = []
    for k, (cw, cb) in zip(TEXTCNN["kernels"], zip(conv_params[0::2], conv_params[1::2])):
        span = length - k + 1
        cols = concatenate([x[:, j:j + span, :] for j in range(k)], axis=2)  # (N, L - k + 1, k * emb)
        pooled.append(xp.max(relu(cols @ cw + cb), axis=1))
    h = concatenate(pooled, axis=1)
    if mask is not None:
        h = h * mask
    return h @ fc_w.T + fc_b


def _dropout_masks(enabled, seed=1):
    p = TEXTCNN["dropout"]
    shape = (TEXTCNN["batch"], TEXTCNN["filters"] * len(TEXTCNN["kernels"]))
    rng = np.random.default_rng(seed)
    if not enabled:
        return itertools.repeat(None)

    def masks():  # inverted dropout, a fresh mask each step as the others draw
        while True:
            yield (rng.random(shape, dtype=np.float32) >= p).astype(np.float32) / np.float32(1 - p)
    return masks()


def make_autograd(model, opt_name, dropout=True, seed=0):
    import autograd.numpy as anp
    from autograd import value_and_grad
    from autograd.scipy.special import logsumexp

    params, batches = _peer_params(model, seed)

    def cross_entropy(logits, targets):
        return anp.mean(logsumexp(logits, axis=1) - logits[np.arange(len(targets)), targets])

    if model == "nplm":
        def loss_fn(params, ids, targets, mask):
            emb, w1, b1, w2, b2 = params
            h = anp.tanh(emb[ids].reshape(ids.shape[0], -1) @ w1.T + b1)
            return cross_entropy(h @ w2.T + b2, targets)
    else:
        def loss_fn(params, ids, targets, mask):
            logits = _textcnn_forward(anp, params, ids, mask, anp.concatenate, lambda z: anp.maximum(z, 0))
            return cross_entropy(logits, targets)

    return _numpy_trainer(value_and_grad(loss_fn), params, batches, opt_name, dropout and model == "textcnn")


def make_mygrad(model, opt_name, dropout=True, seed=0):
    import mygrad as mg
    from mygrad.nnet import relu, softmax_crossentropy

    arrays, batches = _peer_params(model, seed)
    params = [mg.tensor(a) for a in arrays]

    if model == "nplm":
        def loss_fn(ids, targets, mask):
            emb, w1, b1, w2, b2 = params
            h = mg.tanh(emb[ids].reshape(ids.shape[0], -1) @ w1.T + b1)
            return softmax_crossentropy(h @ w2.T + b2, targets)
    else:
        def loss_fn(ids, targets, mask):
            return softmax_crossentropy(_textcnn_forward(mg, params, ids, mask, mg.concatenate, relu), targets)

    def value_and_grad(_, ids, targets, mask):
        loss = loss_fn(ids, targets, mask)
        loss.backward()
        return loss, [p.grad for p in params]

    return _numpy_trainer(value_and_grad, [p.data for p in params], batches, opt_name,
                          dropout and model == "textcnn")


def _numpy_trainer(value_and_grad, arrays, batches, opt_name, dropout):
    """A step for a library that hands back gradients as arrays: the update is NumPy, in place."""
    update = {"sgd": sgd_update, "adam": adam_update, "adadelta": adadelta_update}[opt_name]
    state = [{} for _ in arrays]
    batch_iter, masks = itertools.cycle(batches), _dropout_masks(dropout)

    def step():
        ids, targets = next(batch_iter)
        loss, grads = value_and_grad(arrays, ids, targets, next(masks))
        for p, g, s in zip(arrays, grads, state):
            update(p, np.asarray(g, dtype=np.float32), s)
        return loss
    return step


def sgd_update(p, g, state, lr=LR["sgd"]):
    g *= lr
    p -= g


def adam_update(p, g, state, lr=LR["adam"], b1=0.9, b2=0.999, eps=1e-8):
    if not state:
        state.update(t=0, m=np.zeros_like(p), v=np.zeros_like(p))
    state["t"] += 1
    m, v, t = state["m"], state["v"], state["t"]
    m *= b1
    m += (1 - b1) * g
    v *= b2
    v += (1 - b2) * g * g
    denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps
    p -= (lr / (1 - b1 ** t)) * m / denom


def adadelta_update(p, g, state, lr=LR["adadelta"], rho=0.9, eps=1e-6):
    if not state:
        state.update(sq=np.zeros_like(p), acc=np.zeros_like(p))
    sq, acc = state["sq"], state["acc"]
    sq *= rho
    sq += (1 - rho) * g * g
    delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * g
    acc *= rho
    acc += (1 - rho) * delta * delta
    p -= lr * delta


# ------------------------------------------------- references without autodiff
# Two steps that are not a library but bounds on what any NumPy library can do,
# timed in turn with the others so that they see the same machine:
# - the NPLM/SGD step written out by hand, forward and backward, the way the
#   speed issue's own reference numbers were made (it is what chainrule's
#   engine computes, minus the engine: no graph, no Tensor, no Function calls);
# - the same step's six matrix products alone, the part that is BLAS's and
#   that no NumPy library can make faster.
def make_numpy_by_hand(model, opt_name, dropout=True, seed=0):
    """The NPLM/SGD step in plain NumPy: float32, softmax and cross-entropy fused in place,
    the embedding's gradient summed over the distinct ids (sort and reduceat, no ``np.add.at``),
    and SGD that only touches the embedding rows the batch used (exact: the others' gradient is 0)."""
    if (model, opt_name) != ("nplm", "sgd"):
        raise ValueError(f"the hand-written reference is the NPLM/SGD step only, not {model}/{opt_name}")
    c, w, batches = NPLM, nplm_weights(seed), nplm_batches(seed)
    emb, w1, b1, w2, b2 = (w[key] for key in ("emb", "w1", "b1", "w2", "b2"))
    lr, n = np.float32(LR["sgd"]), c["batch"]
    rows = np.arange(n)
    batch_iter = itertools.cycle(batches)

    def step():
        ids, targets = next(batch_iter)
        x = emb[ids].reshape(n, -1)
        h = x @ w1.T
        h += b1
        np.tanh(h, out=h)
        z = h @ w2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        z_target = z[rows, targets]
        np.exp(z, out=z)
        total = z.sum(axis=1)
        loss = np.mean(np.log(total) - z_target)
        z *= (np.float32(1 / n) / total)[:, None]  # z is now d loss / d logits: softmax / n ...
        z[rows, targets] -= np.float32(1 / n)         # ... minus onehot / n
        grad_w2, grad_b2, grad_h = z.T @ h, z.sum(axis=0), z @ w2
        grad_h *= 1 - h * h  # tanh' = 1 - tanh^2
        grad_w1, grad_b1, grad_x = grad_h.T @ x, grad_h.sum(axis=0), grad_h @ w1
        flat = ids.reshape(-1)
        order = np.argsort(flat, kind="stable")
        sorted_ids = flat[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        grad_rows = np.add.reduceat(grad_x.reshape(flat.size, -1)[order], starts, axis=0)
        for param, grad in ((w2, grad_w2), (b2, grad_b2), (w1, grad_w1), (b1, grad_b1)):
            grad *= lr
            param -= grad
        grad_rows *= lr
        emb[sorted_ids[starts]] -= grad_rows
        return loss
    return step


def make_blas_products(model, opt_name, dropout=True, seed=0):
    """Only the NPLM step's matrix products (two forward, four backward), on arrays of its shapes."""
    if model != "nplm":
        raise ValueError(f"the products-only reference is the NPLM step's, not {model}'s")
    c = NPLM
    rng = np.random.default_rng(seed)
    n, n_in, hidden, vocab = c["batch"], c["context"] * c["emb"], c["hidden"], c["vocab"]
    x, h = (rng.standard_normal(shape, dtype=np.float32) for shape in ((n, n_in), (n, hidden)))
    w1, w2 = (rng.standard_normal(shape, dtype=np.float32) for shape in ((hidden, n_in), (vocab, hidden)))
    grad_z = rng.standard_normal((n, vocab), dtype=np.float32)

    def step():
        x @ w1.T, h @ w2.T                  # forward: hidden and output layers
        grad_z.T @ h                        # backward: the output layer's weight gradient,
        grad_h = grad_z @ w2                # its input gradient,
        grad_h.T @ x, grad_h @ w1           # and the hidden layer's two
    return step


# ------------------------------------------------------------------ tinygrad
def make_tinygrad(model, opt_name, dropout=True, seed=0):
    """tinygrad on its CPU backend. Its optimisers have SGD and Adam; Adadelta is written out with its ops."""
    os.environ.setdefault("DEV", "CPU")
    from tinygrad import Tensor
    from tinygrad import nn as tnn
    from tinygrad.helpers import Context

    arrays, batches = _peer_params(model, seed)
    params = [Tensor(a.copy()) for a in arrays]
    for p in params:
        p.requires_grad = True

    if model == "nplm":
        def loss_fn(ids, targets, mask):
            emb, w1, b1, w2, b2 = params
            h = (emb[ids].reshape(ids.shape[0], -1) @ w1.T + b1).tanh()
            return (h @ w2.T + b2).sparse_categorical_crossentropy(targets)
    else:
        def cat(parts, axis):
            return parts[0].cat(*parts[1:], dim=axis)

        class _Xp:
            @staticmethod
            def max(x, axis):
                return x.max(axis=axis)

        def loss_fn(ids, targets, mask):
            logits = _textcnn_forward(_Xp, params, ids, mask, cat, lambda z: z.relu())
            return logits.sparse_categorical_crossentropy(targets)

    if opt_name == "sgd":
        opt = tnn.optim.SGD(params, lr=LR["sgd"])
    elif opt_name == "adam":
        opt = tnn.optim.Adam(params, lr=LR["adam"])
    else:
        opt = _TinyAdadelta(params)
    batch_iter = itertools.cycle([(Tensor(ids), Tensor(t)) for ids, t in batches])
    masks = _dropout_masks(dropout and model == "textcnn")

    def step():
        ids, targets = next(batch_iter)
        mask = next(masks)
        with Context(TRAINING=1):  # tinygrad's optimisers refuse to step otherwise
            loss = loss_fn(ids, targets, None if mask is None else Tensor(mask))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.numpy()  # tinygrad is lazy: this makes it run the step
    return step


class _TinyAdadelta:
    def __init__(self, params, lr=LR["adadelta"], rho=0.9, eps=1e-6):
        from tinygrad import Tensor
        self.params, self.lr, self.rho, self.eps = params, lr, rho, eps
        self.sq = [Tensor.zeros(*p.shape).contiguous().realize() for p in params]
        self.acc = [Tensor.zeros(*p.shape).contiguous().realize() for p in params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        from tinygrad import Tensor
        outs = []
        for p, sq, acc in zip(self.params, self.sq, self.acc):
            g = p.grad
            sq.assign(sq * self.rho + (1 - self.rho) * g * g)
            delta = (acc + self.eps).sqrt() / (sq + self.eps).sqrt() * g
            acc.assign(acc * self.rho + (1 - self.rho) * delta * delta)
            p.assign(p.detach() - self.lr * delta)
            outs += [p, sq, acc]
        Tensor.realize(*outs)


MAKERS = {"chainrule": make_chainrule, "torch": make_torch, "autograd": make_autograd, "mygrad": make_mygrad,
          "tinygrad": make_tinygrad, "numpy-by-hand": make_numpy_by_hand, "blas-products": make_blas_products}
