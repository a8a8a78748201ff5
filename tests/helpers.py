"""Test helpers: check a chainrule op against PyTorch and against finite differences.

``helper_test_op`` (in the style of tinygrad's helper of the same name) builds
identical inputs for chainrule and PyTorch, compares the forward values, then
backpropagates the same random output gradient through both and compares the
gradient of every input. It finishes with ``cr.gradcheck``: float64 central
differences on the same (small) inputs, which checks the backward without
trusting PyTorch.

Tolerances. Both libraries compute in float32, but sum in different orders
(BLAS blocking, pairwise summation), so results differ by a few ulps times
the length of the sums. The defaults, atol=1e-5 and rtol=1e-4 (about 800 ulps
of float32), cover sums of a few hundred terms of size ~1 and still catch any
real error in a backward, which shows up at the 1e-2 level or above.
gradcheck runs in float64 with eps=1e-6, where the central-difference error
is about 1e-10, so its own defaults (atol=1e-5, rtol=1e-3) leave a wide margin.
"""
import numpy as np
import torch

import chainrule as cr

#: The binary operators, written once for any library's tensors or scalars.
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}

#: The finite-difference check costs two forward passes per input element, so
#: it runs on small inputs only; a test with bigger ones says gradcheck=False.
GRADCHECK_MAX_ELEMENTS = 400


def make_inputs(shapes=None, vals=None, low=-2.0, high=2.0, seed=0):
    """float32 arrays drawn uniformly from [low, high) for ``shapes``, or ``vals`` as given."""
    if vals is not None:
        return [np.asarray(v) for v in vals]
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, size=s).astype(np.float32) for s in shapes]


def _is_float(a):
    return np.issubdtype(a.dtype, np.floating)


def helper_test_op(shapes, cr_fn, torch_fn=None, *, vals=None, low=-2.0, high=2.0, seed=0,
                   atol=1e-5, rtol=1e-4, grad_atol=None, grad_rtol=None,
                   forward_only=False, gradcheck=True, gradcheck_atol=1e-5, gradcheck_rtol=1e-3):
    """Compare ``cr_fn(*inputs)`` with ``torch_fn(*inputs)``: forward, every input's gradient, gradcheck.

    ``shapes`` gives the shapes of random float32 inputs; or pass ``vals``, a
    list of arrays (integer arrays are passed without gradient, for targets
    and indices). ``torch_fn`` defaults to ``cr_fn`` (fine for operators and
    methods both libraries share). Returns the chainrule output and inputs so
    a test can check more.
    """
    torch_fn = cr_fn if torch_fn is None else torch_fn
    grad_atol = atol if grad_atol is None else grad_atol
    grad_rtol = rtol if grad_rtol is None else grad_rtol
    arrays = make_inputs(shapes, vals, low, high, seed)

    cr_in = [cr.tensor(a.copy(), requires_grad=_is_float(a)) for a in arrays]
    t_in = [torch.tensor(a.copy(), requires_grad=_is_float(a)) for a in arrays]
    out = cr_fn(*cr_in)
    t_out = torch_fn(*t_in)

    t_val = t_out.detach().numpy()
    assert out.shape == tuple(t_val.shape), f"forward shape {out.shape}, torch gives {tuple(t_val.shape)}"
    assert out.dtype == t_val.dtype, f"forward dtype {out.dtype}, torch gives {t_val.dtype}"
    np.testing.assert_allclose(out.numpy(), t_val, atol=atol, rtol=rtol, err_msg="forward values differ from torch")
    if forward_only:
        return out, cr_in

    # The same random output gradient on both sides: unlike .sum(), it catches
    # backward passes that put the right numbers in the wrong places.
    upstream = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(out.dtype)
    if out.requires_grad:
        out.backward(upstream)
    if t_out.requires_grad:
        t_out.backward(torch.tensor(upstream))
    for i, (c, t) in enumerate(zip(cr_in, t_in)):
        if not c.requires_grad:
            continue
        expected = np.zeros(c.shape, np.float32) if t.grad is None else t.grad.numpy()
        got = np.zeros(c.shape, np.float32) if c.grad is None else c.grad
        assert got.shape == c.shape, f"gradient of input {i} has shape {got.shape}, input has {c.shape}"
        assert got.dtype == c.dtype, f"gradient of input {i} has dtype {got.dtype}, input has {c.dtype}"
        np.testing.assert_allclose(got, expected, atol=grad_atol, rtol=grad_rtol,
                                   err_msg=f"gradient of input {i} (shape {c.shape}) differs from torch")

    if gradcheck:
        n = sum(a.size for a in arrays if _is_float(a))
        assert n <= GRADCHECK_MAX_ELEMENTS, f"{n} input elements is too many for gradcheck: use smaller shapes"
        gc_in = [cr.tensor(a.astype(np.float64), requires_grad=True) if _is_float(a) else cr.tensor(a)
                 for a in arrays]
        assert cr.gradcheck(cr_fn, gc_in, atol=gradcheck_atol, rtol=gradcheck_rtol)
    return out, cr_in
