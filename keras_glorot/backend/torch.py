"""PyTorch gradients: autograd, as ``keras/src/backend/torch/trainer.py``."""

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


def no_grad():
    """See ``keras_glorot.backend.no_grad``."""
    return torch.no_grad()
