"""PyTorch gradients: autograd, as ``keras/src/backend/torch/trainer.py``; Jacobian-vector
products by reverse mode twice."""

from __future__ import annotations

import torch


def value_and_grads(model, forward, variables):
    """See ``keras_glorot.backend.value_and_grads``."""
    tensors = [v.value for v in variables]
    with torch.enable_grad():
        loss, aux = forward()
        # autograd.grad leaves the variables' .grad untouched (no state to clean).
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    aux = torch.utils._pytree.tree_map(
        lambda t: t.detach() if isinstance(t, torch.Tensor) else t, aux
    )
    return loss.detach(), aux, list(grads)


def jvp(fn, x, tangent):
    """See ``keras_glorot.backend.jvp``.

    By reverse mode twice, ``J v = d/du <J^T u, v>`` (linear in ``u``, so exact), not
    ``torch.func.jvp``: forward mode makes torch import its JVP decompositions, which
    compile themselves with the deprecated ``torch.jit.script`` and warn in the caller's
    process (torch 2.13) about code that is not the caller's.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = fn(x)
        u = torch.zeros_like(y, requires_grad=True)
        (g,) = torch.autograd.grad(y, x, grad_outputs=u, create_graph=True, allow_unused=True)
        jv = None
        if g is not None:
            (jv,) = torch.autograd.grad(g, u, grad_outputs=tangent, allow_unused=True)
    if jv is None:  # y does not depend on x
        jv = torch.zeros_like(y)
    return y.detach(), jv.detach()


def vjp(fn, x, cotangent):
    """See ``keras_glorot.backend.vjp``."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = fn(x)
        (g,) = torch.autograd.grad(y, x, grad_outputs=cotangent, allow_unused=True)
    if g is None:
        g = torch.zeros_like(x)
    return y.detach(), g


def no_grad():
    """See ``keras_glorot.backend.no_grad``."""
    return torch.no_grad()
