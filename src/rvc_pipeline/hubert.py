"""HuBERT / ContentVec content features (docs/formats.md) on transformers' HubertModel, without fairseq.

Weights come in one of two formats:

* RVC's ``hubert_base.pt`` (really ContentVec, 500-class legacy): a fairseq checkpoint, i.e. a
  ``torch.save`` zip of ``{"args": Namespace | None, "cfg": dict | DictConfig, "model": state_dict,
  "task_state": {"dictionaries": [fairseq Dictionary]}, ...}``. It is read with
  ``torch.load(weights_only=True)``; the fairseq / omegaconf / argparse objects it pickles are
  allowlisted as inert stand-ins that only record their state, and any other global (``os.system``,
  ``builtins.eval``...) is refused before anything is unpickled. The fairseq keys are renamed onto
  ``HubertModel``; hyper-parameters come from ``args`` or ``cfg["model"]`` (fairseq's own order).
* A Hugging Face folder: ``config.json`` (a ``HubertConfig``) plus ``model.safetensors`` (or
  ``pytorch_model.bin``) holding the ``HubertModel`` keys and ``final_proj.weight`` / ``.bias``
  beside them, as written by ``HubertFeatureModel.save_pretrained`` (the layout of the common
  ContentVec conversions, a HubertModel subclass with a ``final_proj``).

Without weights, a seeded random stand-in of the same shape keeps the pipeline runnable (features
then carry no content). The "tiny" stand-in (hidden 64, 2 layers, the same conv strides so the
frame count is unchanged) is for tests: its v1 output is final_proj (64→256) of its last layer,
and its v2 output is a fixed random projection ``v2_proj`` (64→768) of its last layer.
"""

from __future__ import annotations

import ast
import functools
import logging
import os
import pickle
import re
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import HubertConfig, HubertModel

log = logging.getLogger(__name__)

# fairseq's extract_features(output_layer=n) returns the output of the n-th transformer layer.
RVC_LAYERS = {"v1": 9, "v2": 12}
FEATURE_DIMS = {"v1": 256, "v2": 768}
# Receptive field of the conv feature extractor: T = (N - 400) // 320 + 1 frames.
MIN_SAMPLES = 400
STANDIN_SEED = 0
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

# Globals a fairseq checkpoint pickles besides tensors: its config objects. They become inert
# stand-ins; everything else that torch's weights_only unpickler does not allow is refused.
_CONFIG_MODULES = ("fairseq.", "omegaconf.", "typing.", "numpy.")
_CONFIG_GLOBALS = frozenset(
    {"argparse.Namespace", "operator.getitem"}
    | {f"builtins.{name}" for name in ("dict", "list", "tuple", "str", "int", "float", "bool", "bytes", "object", "type")}
)

_LOAD_LOCK = threading.Lock()


class UnsafeCheckpointError(ValueError):
    """A checkpoint that references a global which could run code when unpickled."""


class _ConfigStandIn:
    """Inert replacement for a pickled config class: it records constructor args and state, runs nothing."""

    qualified_name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _ConfigStandIn:
        instance = super().__new__(cls)
        instance.args = args
        instance.state = None
        return instance

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<stand-in {self.qualified_name} args={self.args!r} state={self.state!r}>"


@functools.cache
def _standin_class(qualified_name: str) -> type[_ConfigStandIn]:
    return type(qualified_name.rsplit(".", 1)[-1], (_ConfigStandIn,), {"qualified_name": qualified_name})


def _plain(value: Any) -> Any:
    """Config stand-ins -> plain dicts, lists and values (omegaconf containers, nodes, enums, Namespace)."""
    if isinstance(value, _ConfigStandIn):
        state = value.state
        if isinstance(state, dict):
            if "_content" in state:  # omegaconf DictConfig / ListConfig
                return _plain(state["_content"])
            if "_val" in state:  # omegaconf value node
                return _plain(state["_val"])
            return {key: _plain(item) for key, item in state.items()}  # Namespace, dataclass
        if state is None and len(value.args) == 1:  # enum member, pickled as Enum(value)
            return _plain(value.args[0])
        return value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _read_checkpoint(path: Path) -> Any:
    """``torch.load(weights_only=True)`` of a fairseq checkpoint, its config classes allowlisted as stand-ins."""
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: not a torch zip checkpoint; the legacy (pre-1.6) torch format is not supported, "
            "re-save the file with a current torch"
        )
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (ValueError, RuntimeError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path}: not a readable torch.save checkpoint: {err}") from err
    refused = sorted(n for n in names if not (n.startswith(_CONFIG_MODULES) or n in _CONFIG_GLOBALS))
    if refused:
        raise UnsafeCheckpointError(
            f"{path}: refusing to load: the pickle references {', '.join(refused)}, which could run code. "
            "Only tensors, plain containers and fairseq/omegaconf/argparse config objects are accepted."
        )
    standins = [(_standin_class(name), name) for name in names]
    try:
        with torch.serialization.safe_globals(standins):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path}: cannot unpickle the checkpoint safely: {err}") from err


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


class HubertFeatureModel(HubertModel):
    """HubertModel plus RVC's ``final_proj`` (hidden -> 256); the tiny stand-in adds ``v2_proj`` (-> 768)."""

    def __init__(self, config: HubertConfig):
        super().__init__(config)
        self.final_proj = nn.Linear(config.hidden_size, config.classifier_proj_size)
        self.v2_proj = (
            nn.Linear(config.hidden_size, FEATURE_DIMS["v2"]) if getattr(config, "rvc_v2_projection", False) else None
        )
        self.is_standin = False
        self.post_init()
        self.eval()  # inference only: dropout off from the start

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
            if version == "v1":
                hidden = self.final_proj(hidden)
            elif self.v2_proj is not None:
                hidden = self.v2_proj(hidden)
        return hidden[0].float().cpu().numpy()


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
        args = _plain(checkpoint["args"])
        return args, args
    cfg = _plain(checkpoint.get("cfg")) or {}
    return cfg.get("model") or {}, cfg.get("task") or {}


def load_fairseq(path: Path) -> HubertFeatureModel:
    """HubertFeatureModel from a fairseq HuBERT/ContentVec checkpoint such as RVC's hubert_base.pt."""
    checkpoint = _read_checkpoint(path)
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


def load_hf_folder(folder: Path) -> HubertFeatureModel:
    """HubertFeatureModel from a Hugging Face folder (config.json + weights with final_proj.*)."""
    model, info = HubertFeatureModel.from_pretrained(folder, local_files_only=True, output_loading_info=True)
    problems = [
        f"{label}: {', '.join(sorted(map(str, info[key])))}"
        for key, label in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"), ("mismatched_keys", "shape mismatch"))
        if info.get(key)
    ]
    if problems:
        raise ValueError(f"{folder}: weights do not match the model: " + "; ".join(problems))
    return model


def _check_standin(size: str) -> None:
    if size not in STANDIN_SIZES:
        raise ValueError(f"unknown stand-in size {size!r}; expected one of {', '.join(STANDIN_SIZES)}")


def standin_model(size: str) -> HubertFeatureModel:
    """Seeded random model ("base": HuBERT base shape, "tiny": for tests); deterministic across runs."""
    _check_standin(size)
    config = hubert_config(STANDIN_SIZES[size], f"{size} stand-in")
    config.rvc_v2_projection = config.hidden_size != FEATURE_DIMS["v2"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(STANDIN_SEED)
        model = HubertFeatureModel(config)
    model.is_standin = True
    return model


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path | None, mtime_ns: int | None, device: str, standin: str | None) -> HubertFeatureModel:
    if path is None or mtime_ns is None:
        where = "not given" if path is None else f"not found at {path}"
        if standin is None:
            raise FileNotFoundError(f"HuBERT weights {where}, and no stand-in was asked for")
        log.warning(
            "HuBERT weights %s: using a RANDOMLY INITIALISED %s-size stand-in. Its features carry no "
            "content information, so a voice model trained on them will NOT be usable. Supply RVC's "
            "hubert_base.pt for real training.",
            where,
            standin,
        )
        model = standin_model(standin)
    elif path.is_dir():
        model = load_hf_folder(path)
    else:
        model = load_fairseq(path)
    return model.to(device).eval()


def load_hubert(
    weights: str | os.PathLike | None, device: str = "cpu", standin: str | None = "base"
) -> HubertFeatureModel:
    """The feature model for ``weights`` (fairseq .pt file or HF folder), cached per process.

    ``None`` or a missing path gives the ``standin`` random model ("base" or "tiny") with a loud
    warning, or a FileNotFoundError when ``standin`` is None. The cache key includes the file's
    mtime, so a replaced file is reloaded.
    """
    if standin is not None:
        _check_standin(standin)
    path = Path(weights).resolve() if weights is not None else None
    mtime_ns = path.stat().st_mtime_ns if path is not None and path.exists() else None
    # One load at a time: concurrent first calls would each build the model.
    with _LOAD_LOCK:
        return _load_cached(path, mtime_ns, str(device), standin)
