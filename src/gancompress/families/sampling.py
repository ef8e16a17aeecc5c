"""Reproducible generator outputs: the same seed gives every generator the same inputs (evaluation, sample grids).

Example:
    >>> import torch
    >>> from torch import nn
    >>> run_generator(nn.Identity(), (torch.zeros(5, 2),), batch_size=2).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

import torch
from torch import nn

from gancompress.data import ImageDataset
from gancompress.families.contract import EvalInputs, GanLoss


@torch.no_grad()
def run_generator(g: nn.Module, inputs: tuple[torch.Tensor, ...], *, batch_size: int = 250) -> torch.Tensor:
    """``g(*inputs)`` in eval mode, in chunks of ``batch_size``, as float32 on the CPU (g's train flag restored)."""
    was_training = g.training
    g.eval()
    n = inputs[0].shape[0]
    out = [g(*(x[i : i + batch_size] for x in inputs)).float().cpu() for i in range(0, n, batch_size)]
    g.train(was_training)
    return torch.cat(out)


def eval_inputs(
    loss: GanLoss, n: int, *, seed: int = 0, device: str | torch.device = "cpu", data: ImageDataset | None = None
) -> EvalInputs:
    """``n`` reproducible evaluation inputs of ``loss`` (same seed ⇒ same inputs for every generator).

    ``data`` is the held-out split conditional families draw source images / domains from (``loss.eval_data`` when
    not given); unconditional families ignore it.
    """
    gen = torch.Generator().manual_seed(seed)
    return loss.eval_inputs(data if data is not None else loss.eval_data, n, gen, device)


def generate(
    g: nn.Module,
    loss: GanLoss,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 250,
    device: str | torch.device = "cpu",
    data: ImageDataset | None = None,
) -> torch.Tensor:
    """``n`` samples of ``g`` in eval mode from reproducible inputs (same seed ⇒ same inputs for every generator).

    ``data``: held-out split for conditional families (see :func:`eval_inputs`).
    """
    inputs = eval_inputs(loss, n, seed=seed, device=device, data=data).inputs
    return run_generator(g, inputs, batch_size=batch_size)
