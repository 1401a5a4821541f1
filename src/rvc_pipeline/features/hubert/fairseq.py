"""fairseq HuBERT / ContentVec checkpoints (RVC's ``hubert_base.pt``) on transformers' HubertModel.

The checkpoint is ``{"args": Namespace | None, "cfg": dict | DictConfig, "model": state_dict,
"task_state": ..., ...}``. Hyper-parameters come from ``args`` or ``cfg["model"]`` (fairseq's own
order, missing ones: HuBERT base); the fairseq keys are renamed onto ``HubertFeatureModel``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import torch
from transformers import HubertConfig

from rvc_pipeline.features.hubert.model import HubertFeatureModel
from rvc_pipeline.features.hubert.safe_load import plain, read_checkpoint

MAX_CONV_LAYERS = 64

# fairseq's HubertConfig defaults, which are HuBERT base (and ContentVec's layout).
FAIRSEQ_DEFAULTS: dict[str, Any] = {
    "encoder_layers": 12,
    "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12,
    "activation_fn": "gelu",
    "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2",
    "conv_bias": False,
    "conv_pos": 128,
    "conv_pos_groups": 16,
    "final_dim": 256,
    "extractor_mode": "default",
    "layer_norm_first": False,
}

# fairseq key (full match) -> transformers key. The first conv layer's GroupNorm is module 2 of its
# Sequential(conv, dropout, norm, gelu); every conv is module 0.
_KEY_RULES = [
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)", r"feature_extractor.conv_layers.\1.conv.\2"),
    (r"feature_extractor\.conv_layers\.0\.2\.(weight|bias)", r"feature_extractor.conv_layers.0.layer_norm.\1"),
    (r"layer_norm\.(weight|bias)", r"feature_projection.layer_norm.\1"),
    (r"post_extract_proj\.(weight|bias)", r"feature_projection.projection.\1"),
    (r"mask_emb", r"masked_spec_embed"),
    (r"encoder\.pos_conv\.0\.weight_g", r"encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
    (r"encoder\.pos_conv\.0\.weight_v", r"encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
    (r"encoder\.pos_conv\.0\.bias", r"encoder.pos_conv_embed.conv.bias"),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
    (r"encoder\.layers\.(\d+)\.self_attn\.(q|k|v|out)_proj\.(weight|bias)", r"encoder.layers.\1.attention.\2_proj.\3"),
    (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)", r"encoder.layers.\1.layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.fc1\.(weight|bias)", r"encoder.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"encoder\.layers\.(\d+)\.fc2\.(weight|bias)", r"encoder.layers.\1.feed_forward.output_dense.\2"),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", r"encoder.layers.\1.final_layer_norm.\2"),
    (r"final_proj\.(weight|bias)", r"final_proj.\1"),
]
# HuBERT's pre-training targets (cluster embeddings): not used for feature extraction.
_IGNORED_KEYS = [r"label_embs_concat"]


def _conv_layers(spec: str, path: Path | str) -> list[tuple[int, int, int]]:
    """Evaluate fairseq's conv_feature_layers expression (lists of (dim, kernel, stride), + and *) without eval."""

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return value(node.left) + value(node.right)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            left, right = value(node.left), value(node.right)
            if not (isinstance(right, int) and 0 <= right <= MAX_CONV_LAYERS):  # no giant lists
                raise ValueError(f"{path}: unsupported repeat count in conv_feature_layers {spec!r}")
            return left * right
        raise ValueError(f"{path}: unsupported conv_feature_layers expression {spec!r}")

    try:
        layers = value(ast.parse(str(spec), mode="eval").body)
    except SyntaxError as err:
        raise ValueError(f"{path}: conv_feature_layers {spec!r} is not an expression") from err
    if not (isinstance(layers, list) and all(isinstance(t, tuple) and len(t) == 3 for t in layers)):
        raise ValueError(f"{path}: conv_feature_layers {spec!r} is not a list of (dim, kernel, stride)")
    return layers


def hubert_config(fairseq_model_cfg: dict[str, Any], path: Path | str) -> HubertConfig:
    """transformers' HubertConfig for fairseq HuBERT model settings (missing ones: HuBERT base)."""
    cfg = {**FAIRSEQ_DEFAULTS, **{k: v for k, v in fairseq_model_cfg.items() if k in FAIRSEQ_DEFAULTS}}
    if cfg["extractor_mode"] != "default" or cfg["layer_norm_first"]:
        raise ValueError(
            f"{path}: only the HuBERT/ContentVec base layout is supported (extractor_mode 'default', "
            f"layer_norm_first False); got {cfg['extractor_mode']!r}, {cfg['layer_norm_first']!r}"
        )
    conv = _conv_layers(cfg["conv_feature_layers"], path)
    return HubertConfig(
        hidden_size=cfg["encoder_embed_dim"],
        num_hidden_layers=cfg["encoder_layers"],
        num_attention_heads=cfg["encoder_attention_heads"],
        intermediate_size=cfg["encoder_ffn_embed_dim"],
        hidden_act=cfg["activation_fn"],
        feat_extract_norm="group",
        feat_extract_activation="gelu",
        conv_dim=[dim for dim, _, _ in conv],
        conv_kernel=[kernel for _, kernel, _ in conv],
        conv_stride=[stride for _, _, stride in conv],
        conv_bias=cfg["conv_bias"],
        num_conv_pos_embeddings=cfg["conv_pos"],
        num_conv_pos_embedding_groups=cfg["conv_pos_groups"],
        do_stable_layer_norm=False,
        feat_proj_layer_norm=True,
        layer_norm_eps=1e-5,
        classifier_proj_size=cfg["final_dim"],
    )


def _rename(key: str) -> str | None:
    for pattern, replacement in _KEY_RULES:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, replacement, key)
    return None


def _load_fairseq_state(model: HubertFeatureModel, state: dict[str, torch.Tensor], path: Path) -> None:
    """Fill every model weight from the fairseq state dict; any key left over or missing is an error."""
    expected = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, tensor in state.items():
        target = _rename(key)
        if target in expected:
            mapped[target] = tensor
        elif not any(re.fullmatch(p, key) for p in _IGNORED_KEYS):
            unexpected.append(key)
    missing = sorted(set(expected) - set(mapped))
    mismatched = [
        f"{key} {tuple(tensor.shape)} (model {tuple(expected[key].shape)})"
        for key, tensor in mapped.items()
        if tensor.shape != expected[key].shape
    ]
    if unexpected or missing or mismatched:
        details = [
            f"{label}: {', '.join(keys)}"
            for label, keys in (("unexpected", unexpected), ("missing", missing), ("shape mismatch", mismatched))
            if keys
        ]
        raise ValueError(f"{path}: checkpoint does not match HuBERT: " + "; ".join(details))
    model.load_state_dict(mapped)


def _fairseq_sections(checkpoint: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model, task) settings as fairseq reads them: legacy flat ``args`` when set, else ``cfg``."""
    if checkpoint.get("args") is not None:
        args = plain(checkpoint["args"])
        return args, args
    cfg = plain(checkpoint.get("cfg")) or {}
    return cfg.get("model") or {}, cfg.get("task") or {}


def load_fairseq(path: Path) -> HubertFeatureModel:
    """HubertFeatureModel from a fairseq HuBERT/ContentVec checkpoint such as RVC's hubert_base.pt."""
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise ValueError(f"{path}: not a fairseq checkpoint (no 'model' state dict)")
    model_cfg, task_cfg = _fairseq_sections(checkpoint)
    if task_cfg.get("normalize"):
        raise ValueError(f"{path}: the model expects layer-normalised input (task.normalize); RVC's does not")
    state = checkpoint["model"]
    if "final_proj.weight" in state:
        model_cfg = {**model_cfg, "final_dim": state["final_proj.weight"].shape[0]}
    model = HubertFeatureModel(hubert_config(model_cfg, path))
    _load_fairseq_state(model, state, path)
    return model
