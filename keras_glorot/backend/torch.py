"""PyTorch gradients: autograd, as ``keras/src/backend/torch/trainer.py``; forward mode
by ``torch.func.jvp``."""

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
    """See ``keras_glorot.backend.jvp``."""
    with torch.enable_grad():
        y, jv = torch.func.jvp(fn, (x.detach(),), (tangent,))
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
