"""Seeded random stand-ins for missing HuBERT weights: the pipeline runs, the features carry no content.

"base" has HuBERT base's shape. "tiny" (hidden 64, 2 layers, the same conv strides so the frame
count is unchanged) is for tests: its v1 output is final_proj (64 -> 256) of its last layer, and
since it is narrower than RVC's v2 features, its v2 output is a fixed random projection
``v2_proj`` (64 -> 768) of its last layer, which no real model has.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import HubertConfig

from rvc_pipeline.features.hubert.fairseq import hubert_config
from rvc_pipeline.features.hubert.model import HubertFeatureModel
from rvc_pipeline.layout import FEATURE_DIMS

STANDIN_SEED = 0
STANDIN_SIZES: dict[str, dict[str, Any]] = {
    "base": {},
    "tiny": {
        "encoder_layers": 2,
        "encoder_embed_dim": 64,
        "encoder_ffn_embed_dim": 128,
        "encoder_attention_heads": 2,
        "conv_feature_layers": "[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
        "conv_pos": 16,
        "conv_pos_groups": 4,
    },
}
# Set in the config of a stand-in with ``v2_proj``; saved with it, so loading it again
# (``save_pretrained`` / ``load_hubert``) builds the same class.
V2_PROJECTION_FLAG = "rvc_v2_projection"


class NarrowStandinModel(HubertFeatureModel):
    """A stand-in narrower than RVC's v2 features: v2 output is ``v2_proj`` of the last layer."""

    def add_heads(self, config: HubertConfig) -> None:
        self.v2_proj = nn.Linear(config.hidden_size, FEATURE_DIMS["v2"])

    def v2_output(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.v2_proj(hidden)


def check_standin(size: str) -> None:
    if size not in STANDIN_SIZES:
        raise ValueError(f"unknown stand-in size {size!r}; expected one of {', '.join(STANDIN_SIZES)}")


def model_class(config: HubertConfig) -> type[HubertFeatureModel]:
    """The class of a model with this config: a narrow stand-in's, or RVC's feature model."""
    return NarrowStandinModel if getattr(config, V2_PROJECTION_FLAG, False) else HubertFeatureModel


def standin_model(size: str) -> HubertFeatureModel:
    """Seeded random model ("base": HuBERT base shape, "tiny": for tests); deterministic across runs."""
    check_standin(size)
    config = hubert_config(STANDIN_SIZES[size], f"{size} stand-in")
    setattr(config, V2_PROJECTION_FLAG, config.hidden_size != FEATURE_DIMS["v2"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(STANDIN_SEED)
        model = model_class(config)(config)
    model.is_standin = True
    return model
