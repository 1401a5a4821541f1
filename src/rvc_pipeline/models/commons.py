"""Small tensor helpers shared by the model files (VITS' commons.py)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

LRELU_SLOPE = 0.1

_M = TypeVar("_M", bound=nn.Module)


def weight_norm(module: _M) -> _M:
    """Weight-normalise ``module`` with RVC's state-dict layout (``weight_g``, ``weight_v``).

    The parametrization API would name the tensors differently, so RVC's pretrained files would
    not load; the classic function is kept and only its deprecation warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*torch\.nn\.utils\.weight_norm.*deprecated", category=FutureWarning
        )
        return nn.utils.weight_norm(module)


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd kernel with this dilation."""
    return (kernel_size * dilation - dilation) // 2


def sequence_mask(lengths: Tensor, max_length: int | None = None) -> Tensor:
    """Boolean [B, max_length] mask, True before each sequence's length."""
    if max_length is None:
        max_length = int(lengths.max())
    positions = torch.arange(max_length, dtype=lengths.dtype, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def slice_segments(x: Tensor, ids_start: Tensor, segment_size: int) -> Tensor:
    """Cut ``segment_size`` steps from the last axis of each batch item, from ``ids_start[b]``.

    ``x`` is [B, T] or [B, C, T] (RVC's slice_segments and slice_segments2 in one).
    """
    ids_start = ids_start.to(x.device)
    if bool(((ids_start < 0) | (ids_start + segment_size > x.size(-1))).any()):
        raise ValueError(
            f"segments of {segment_size} from {ids_start.tolist()} exceed the length {x.size(-1)}"
        )
    index = ids_start.view(-1, 1) + torch.arange(segment_size, device=x.device)
    if x.dim() == 3:
        index = index.unsqueeze(1).expand(-1, x.size(1), -1)
    return torch.gather(x, -1, index)


def rand_slice_segments(
    x: Tensor, lengths: Tensor | None, segment_size: int
) -> tuple[Tensor, Tensor]:
    """Random ``segment_size`` slices of x [B, C, T] within each length; returns (slices, starts).

    Starts are ``(torch.rand(B) * (length - segment_size + 1)).long()``, as RVC draws them.
    """
    batch, _, frames = x.size()
    if lengths is None:
        lengths = torch.full((batch,), frames, device=x.device)
    ids_start_max = lengths.to(x.device) - segment_size + 1
    ids_start = (torch.rand([batch], device=x.device) * ids_start_max).to(dtype=torch.long)
    return slice_segments(x, ids_start, segment_size), ids_start


def fused_add_tanh_sigmoid_multiply(a: Tensor, b: Tensor, n_channels: int) -> Tensor:
    """WaveNet gate: tanh of the first ``n_channels`` of a+b times sigmoid of the rest."""
    acts = a + b
    return torch.tanh(acts[:, :n_channels]) * torch.sigmoid(acts[:, n_channels:])


def maybe_checkpoint(enabled: bool, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``; with ``enabled`` (and gradients on) its activations are not
    kept but recomputed in the backward pass, with the RNG replayed, so the gradients are the same."""
    if enabled and torch.is_grad_enabled():
        return checkpoint(function, *args, use_reentrant=False, **kwargs)
    return function(*args, **kwargs)
