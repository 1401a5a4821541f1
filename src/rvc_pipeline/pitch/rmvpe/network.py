"""The RMVPE network: a U-Net over the log-mel, then a bidirectional GRU giving pitch salience.

Module and attribute names follow the keys of RVC's ``rmvpe.pt`` (a plain state dict of its
``E2E(n_blocks=4, n_gru=1, kernel_size=(2, 2))``), so that file loads strictly into `Rmvpe`.
Shapes: log-mel [B, 128, T] with T a multiple of 32 (five 2×2 poolings) -> salience [B, T, 360].
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

N_MELS = 128
N_BINS = 360  # 20-cent pitch bins
POOLINGS = 5
FRAME_MULTIPLE = 2**POOLINGS
ENCODER_CHANNELS = (16, 32, 64, 128, 256)
INTERMEDIATE_CHANNELS = 512
INTERMEDIATE_BLOCKS = 4
RES_BLOCKS = 4  # ConvBlockRes per encoder / intermediate / decoder block
GRU_HIDDEN = 256
CNN_CHANNELS = 3
BN_MOMENTUM = 0.01  # RVC's value; irrelevant in eval mode, kept so training would behave the same


class ConvBlockRes(nn.Module):
    """Two conv3×3-BN-ReLU plus a residual (through a 1×1 conv when the channel count changes)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM),
            nn.ReLU(),
        )
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) + (x if self.shortcut is None else self.shortcut(x))


def _res_blocks(c_in: int, c_out: int) -> nn.ModuleList:
    return nn.ModuleList([ConvBlockRes(c_in if i == 0 else c_out, c_out) for i in range(RES_BLOCKS)])


class ResEncoderBlock(nn.Module):
    """Residual blocks, then (in the encoder) a 2×2 average pooling."""

    def __init__(self, c_in: int, c_out: int, pool: bool):
        super().__init__()
        self.conv = _res_blocks(c_in, c_out)
        self.pool = nn.AvgPool2d(2) if pool else None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(output before pooling, pooled output); both the same without pooling."""
        for block in self.conv:
            x = block(x)
        return x, (x if self.pool is None else self.pool(x))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(1, momentum=BN_MOMENTUM)
        channels = (1, *ENCODER_CHANNELS)
        self.layers = nn.ModuleList(
            [ResEncoderBlock(c_in, c_out, pool=True) for c_in, c_out in zip(channels[:-1], channels[1:])]
        )

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(deepest pooled map, the pre-pooling map of every block for the skip connections)."""
        x = self.bn(x)
        skips = []
        for layer in self.layers:
            skip, x = layer(x)
            skips.append(skip)
        return x, skips


class Intermediate(nn.Module):
    def __init__(self):
        super().__init__()
        channels = (ENCODER_CHANNELS[-1],) + (INTERMEDIATE_CHANNELS,) * INTERMEDIATE_BLOCKS
        self.layers = nn.ModuleList(
            [ResEncoderBlock(c_in, c_out, pool=False) for c_in, c_out in zip(channels[:-1], channels[1:])]
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)[0]
        return x


class ResDecoderBlock(nn.Module):
    """Upsample ×2 (transposed conv), concatenate the encoder's skip, then residual blocks."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM),
            nn.ReLU(),
        )
        self.conv2 = _res_blocks(2 * c_out, c_out)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = torch.cat((self.conv1(x), skip), dim=1)
        for block in self.conv2:
            x = block(x)
        return x


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        channels = (INTERMEDIATE_CHANNELS, *ENCODER_CHANNELS[::-1])
        self.layers = nn.ModuleList(
            [ResDecoderBlock(c_in, c_out) for c_in, c_out in zip(channels[:-1], channels[1:])]
        )

    def forward(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        for layer, skip in zip(self.layers, reversed(skips)):
            x = layer(x, skip)
        return x


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.intermediate = Intermediate()
        self.decoder = Decoder()

    def forward(self, x: Tensor) -> Tensor:
        x, skips = self.encoder(x)
        return self.decoder(self.intermediate(x), skips)


class BiGRU(nn.Module):
    def __init__(self, n_in: int, n_hidden: int):
        super().__init__()
        self.gru = nn.GRU(n_in, n_hidden, num_layers=1, batch_first=True, bidirectional=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.gru(x)[0]


class Rmvpe(nn.Module):
    """Log-mel [B, 128, T] (T a multiple of 32) -> salience [B, T, 360] in 0..1."""

    def __init__(self):
        super().__init__()
        self.unet = UNet()
        self.cnn = nn.Conv2d(ENCODER_CHANNELS[0], CNN_CHANNELS, 3, padding=1)
        self.fc = nn.Sequential(
            BiGRU(CNN_CHANNELS * N_MELS, GRU_HIDDEN),
            nn.Linear(2 * GRU_HIDDEN, N_BINS),
            nn.Dropout(0.25),
            nn.Sigmoid(),
        )

    def features(self, mel: Tensor) -> Tensor:
        """The convolutional part, [B, 128, T] -> [B, T, 384]: each frame sees a bounded neighbourhood."""
        if mel.shape[-1] % FRAME_MULTIPLE:
            raise ValueError(f"RMVPE needs a multiple of {FRAME_MULTIPLE} frames, got {mel.shape[-1]}")
        x = self.cnn(self.unet(mel.transpose(1, 2).unsqueeze(1)))  # [B, 3, T, 128]
        return x.transpose(1, 2).flatten(2)

    def forward(self, mel: Tensor) -> Tensor:
        return self.fc(self.features(mel))
