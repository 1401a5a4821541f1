"""RVC's content-feature model: transformers' HubertModel plus ``final_proj``, cut at RVC's layer."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import HubertConfig, HubertModel

# fairseq's extract_features(output_layer=n) returns the output of the n-th transformer layer.
RVC_LAYERS = {"v1": 9, "v2": 12}
# Receptive field of the conv feature extractor: T = (N - 400) // 320 + 1 frames.
MIN_SAMPLES = 400


class HubertFeatureModel(HubertModel):
    """HubertModel plus RVC's ``final_proj`` (hidden -> 256): v1 features are final_proj of layer
    9, v2 features layer 12 itself."""

    def __init__(self, config: HubertConfig):
        super().__init__(config)
        self.final_proj = nn.Linear(config.hidden_size, config.classifier_proj_size)
        self.add_heads(config)
        self.is_standin = False
        self.post_init()
        self.eval()  # inference only: dropout off from the start

    def add_heads(self, config: HubertConfig) -> None:
        """Layers besides final_proj, added before the weights are initialised: none in RVC's models."""

    def v2_output(self, hidden: torch.Tensor) -> torch.Tensor:
        """v2 features from the last layer used: that layer's output."""
        return hidden

    def hidden_state(self, wav: torch.Tensor, layer: int) -> torch.Tensor:
        """[B, T, hidden] output of transformer layer ``layer`` (1-based), as fairseq's output_layer."""
        hidden = self.feature_projection(self.feature_extractor(wav).transpose(1, 2))
        encoder = self.encoder
        # Post-LN HuBERT: positional conv, then layer norm, then the layers.
        hidden = encoder.layer_norm(hidden + encoder.pos_conv_embed(hidden))
        for block in encoder.layers[:layer]:
            hidden = block(hidden)
        return hidden

    def extract(self, wav16k: np.ndarray, version: str) -> np.ndarray:
        """RVC's features of one 16 kHz segment: float32 [T, 256] (v1) or [T, 768] (v2).

        v1 is final_proj of layer 9, v2 layer 12 (models with fewer layers use their last one).
        The audio goes in as [1, N] with no normalisation and no padding.
        """
        if version not in RVC_LAYERS:
            raise ValueError(f"unknown feature version {version!r}; expected 'v1' or 'v2'")
        if len(wav16k) < MIN_SAMPLES:
            raise ValueError(f"{len(wav16k)} samples is shorter than {MIN_SAMPLES} (25 ms): no feature frame")
        wav = torch.as_tensor(np.asarray(wav16k, dtype=np.float32), device=self.device)[None]
        layer = min(RVC_LAYERS[version], self.config.num_hidden_layers)
        with torch.inference_mode():
            hidden = self.hidden_state(wav, layer)
            hidden = self.final_proj(hidden) if version == "v1" else self.v2_output(hidden)
        return hidden[0].float().cpu().numpy()
