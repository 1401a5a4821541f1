import argparse
import builtins
import dataclasses
import enum
import logging
import os
import subprocess
import sys
import types
import typing

import numpy as np
import pytest
import torch
from torch import nn
from transformers import HubertConfig, HubertModel

from rvc_pipeline.features.hubert import UnsafeCheckpointError, hubert_config, load_hubert, standin_model

# A small HuBERT with the real depth (12 layers), so v1 = layer 9 and v2 = layer 12 are exercised.
SMALL = {
    "encoder_layers": 12,
    "encoder_embed_dim": 32,
    "encoder_ffn_embed_dim": 64,
    "encoder_attention_heads": 2,
    "conv_feature_layers": "[(16,10,5)] + [(16,3,2)] * 4 + [(16,2,2)] * 2",
    "conv_pos": 16,
    "conv_pos_groups": 4,
    "extractor_mode": "default",
    "layer_norm_first": False,
    "conv_bias": False,
    "activation_fn": "gelu",
    "final_dim": 256,
    "label_rate": 50,
    "dropout": 0.1,
}


@pytest.fixture(scope="module")
def source():
    """A transformers HubertModel + final_proj with random weights, every parameter perturbed."""
    config = HubertConfig(
        hidden_size=32,
        num_hidden_layers=12,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    generator = torch.Generator().manual_seed(1)
    hubert = HubertModel(config).eval()
    final_proj = nn.Linear(32, 256)
    with torch.no_grad():
        for param in [*hubert.parameters(), *final_proj.parameters()]:
            # LayerNorm weights of 1 and biases of 0 would hide a swapped key.
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return hubert, final_proj


def reference_features(source, wav: np.ndarray, version: str) -> np.ndarray:
    hubert, final_proj = source
    with torch.no_grad():
        states = hubert(torch.from_numpy(wav)[None], output_hidden_states=True).hidden_states
        # hidden_states[0] is the input of layer 1, so [n] is the output of layer n.
        out = final_proj(states[9]) if version == "v1" else states[12]
    return out[0].numpy()


def to_fairseq(source) -> dict[str, torch.Tensor]:
    """The source weights under fairseq's HuBERT names."""
    hubert, final_proj = source
    renames = [
        ("feature_extractor.conv_layers.0.layer_norm.", "feature_extractor.conv_layers.0.2."),
        (".conv.weight", ".0.weight"),
        ("feature_projection.layer_norm.", "layer_norm."),
        ("feature_projection.projection.", "post_extract_proj."),
        ("masked_spec_embed", "mask_emb"),
        ("encoder.pos_conv_embed.conv.parametrizations.weight.original0", "encoder.pos_conv.0.weight_g"),
        ("encoder.pos_conv_embed.conv.parametrizations.weight.original1", "encoder.pos_conv.0.weight_v"),
        ("encoder.pos_conv_embed.conv.bias", "encoder.pos_conv.0.bias"),
        (".attention.", ".self_attn."),
        (".feed_forward.intermediate_dense.", ".fc1."),
        (".feed_forward.output_dense.", ".fc2."),
    ]
    state = {}
    for key, value in hubert.state_dict().items():
        for old, new in renames:
            key = key.replace(old, new)
        if key.startswith("encoder.layers.") and ".layer_norm." in key:
            key = key.replace(".layer_norm.", ".self_attn_layer_norm.")
        state[key] = value.clone()
    state["final_proj.weight"] = final_proj.weight.detach().clone()
    state["final_proj.bias"] = final_proj.bias.detach().clone()
    state["label_embs_concat"] = torch.randn(504, 256)
    return state


def _fake_module(monkeypatch, name: str, **classes) -> None:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        if ".".join(parts[:i]) not in sys.modules:
            monkeypatch.setitem(sys.modules, ".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    for attr, cls in classes.items():
        cls.__module__, cls.__qualname__ = name, attr
        setattr(sys.modules[name], attr, cls)


@pytest.fixture
def fairseq_classes(monkeypatch):
    """Look-alikes of the classes fairseq checkpoints pickle, registered under their real module names."""

    @dataclasses.dataclass
    class ContainerMetadata:
        ref_type: typing.Any = typing.Any
        object_type: typing.Any = dict
        optional: bool = True
        key: typing.Any = None
        flags: dict = dataclasses.field(default_factory=dict)
        key_type: typing.Any = typing.Any
        element_type: typing.Any = typing.Any

    class AnyNode:  # omegaconf value node: pickles its __dict__ (_val, _metadata, _parent)
        def __init__(self, value, parent):
            self._val, self._parent, self._metadata = value, parent, None

    class DictConfig:  # omegaconf container: pickles _metadata, _content, _parent
        def __init__(self, content, parent=None):
            self._metadata, self._parent = ContainerMetadata(), parent
            self._content = {
                k: DictConfig(v, self) if isinstance(v, dict) else AnyNode(v, self) for k, v in content.items()
            }

    class Choices(enum.Enum):  # fairseq's ChoiceEnum members pickle as Choices(value)
        default = "default"
        layer_norm = "layer_norm"

    class Dictionary:
        def __init__(self):
            self.symbols, self.count, self.indices = ["<s>", "<pad>"], [1, 1], {"<s>": 0, "<pad>": 1}

    _fake_module(monkeypatch, "omegaconf.base", ContainerMetadata=ContainerMetadata)
    _fake_module(monkeypatch, "omegaconf.nodes", AnyNode=AnyNode)
    _fake_module(monkeypatch, "omegaconf.dictconfig", DictConfig=DictConfig)
    _fake_module(monkeypatch, "fairseq.dataclass.constants", Choices=Choices)
    _fake_module(monkeypatch, "fairseq.data.dictionary", Dictionary=Dictionary)
    return types.SimpleNamespace(DictConfig=DictConfig, Choices=Choices, Dictionary=Dictionary)


def fairseq_checkpoint(style: str, state: dict, classes, model_cfg: dict | None = None) -> dict:
    model_cfg = dict(SMALL if model_cfg is None else model_cfg)
    task = {"_name": "hubert_pretraining", "normalize": False, "sample_rate": 16000}
    common = {"task_state": {"dictionaries": [classes.Dictionary()]}, "model": state, "extra_state": {"epoch": 3}}
    if style == "plain-cfg":  # RVC's hubert_base.pt
        return {"args": None, "cfg": {"_name": None, "model": {"_name": "hubert", **model_cfg}, "task": task}, **common}
    if style == "omegaconf-cfg":
        model_cfg["extractor_mode"] = classes.Choices(model_cfg["extractor_mode"])
        cfg = classes.DictConfig({"model": model_cfg, "task": task, "common": {"seed": 1}})
        return {"args": None, "cfg": cfg, "optimizer_history": [{"num_updates": np.int64(7)}], **common}
    if style == "legacy-args":
        return {"args": argparse.Namespace(arch="hubert", **model_cfg, **task), **common}
    raise AssertionError(style)


@pytest.mark.parametrize("style", ["plain-cfg", "omegaconf-cfg", "legacy-args"])
def test_fairseq_checkpoint_reproduces_source(tmp_path, source, fairseq_classes, style):
    path = tmp_path / f"{style}.pt"
    torch.save(fairseq_checkpoint(style, to_fairseq(source), fairseq_classes), path)
    model = load_hubert(path)
    assert not model.is_standin
    wav = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.3
    for version, dim in (("v1", 256), ("v2", 32)):
        features = model.extract(wav, version)
        assert features.shape == ((8000 - 400) // 320 + 1, dim) and features.dtype == np.float32
        np.testing.assert_allclose(features, reference_features(source, wav, version), atol=1e-5, rtol=0)


def test_hyperparameters_come_from_the_checkpoint(tmp_path, source, fairseq_classes):
    # Same weights, but the config claims 4 heads: attention changes, so the output must differ.
    path = tmp_path / "heads.pt"
    cfg = {**SMALL, "encoder_attention_heads": 4}
    torch.save(fairseq_checkpoint("plain-cfg", to_fairseq(source), fairseq_classes, cfg), path)
    model = load_hubert(path)
    assert model.config.num_attention_heads == 4
    wav = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.3
    assert np.abs(model.extract(wav, "v2") - reference_features(source, wav, "v2")).max() > 1e-3


@pytest.mark.parametrize(
    "func, arg, name",
    [
        (os.system, "touch {marker}", "posix.system"),
        (builtins.eval, "open({marker!r}, 'w')", "builtins.eval"),
        # pickle protocol 2 writes subprocess under its Python 2 name, commands.Popen
        (subprocess.Popen, ["touch", "{marker}"], "Popen"),
    ],
)
def test_code_in_pickle_is_refused_and_not_run(tmp_path, source, func, arg, name):
    marker = tmp_path / "pwned"
    arg = arg.format(marker=str(marker)) if isinstance(arg, str) else [a.format(marker=marker) for a in arg]

    class Payload:
        def __reduce__(self):
            return (func, (arg,))

    path = tmp_path / "evil.pt"
    torch.save({"args": None, "cfg": {"model": {}}, "model": to_fairseq(source), "x": Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match=rf"evil\.pt.*{name}"):
        load_hubert(path)
    assert not marker.exists()


def test_key_mismatch_lists_the_keys(tmp_path, source, fairseq_classes):
    state = to_fairseq(source)
    state["encoder.extra_proj.weight"] = torch.zeros(3)
    del state["encoder.layers.4.fc2.bias"]
    state["post_extract_proj.weight"] = torch.zeros(32, 15)
    path = tmp_path / "bad_keys.pt"
    torch.save(fairseq_checkpoint("plain-cfg", state, fairseq_classes), path)
    with pytest.raises(ValueError) as err:
        load_hubert(path)
    message = str(err.value)
    assert "bad_keys.pt" in message
    assert "unexpected: encoder.extra_proj.weight" in message
    assert "missing: encoder.layers.4.feed_forward.output_dense.bias" in message
    assert "feature_projection.projection.weight (32, 15) (model (32, 16))" in message


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"conv_feature_layers": "[(16,10,5)] + __import__('os').system('true')"}, "unsupported conv_feature_layers"),
        ({"conv_feature_layers": "[(16,10,5)] * 100000000"}, "repeat count"),
        ({"layer_norm_first": True}, "base layout"),
        ({"extractor_mode": "layer_norm"}, "base layout"),
    ],
)
def test_unsupported_settings_are_refused(setting, message):
    with pytest.raises(ValueError, match=message):
        hubert_config({**SMALL, **setting}, "ckpt.pt")


def test_base_defaults_are_hubert_base():
    config = hubert_config({}, "defaults")
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (768, 12, 3072)
    assert list(config.conv_kernel) == [10, 3, 3, 3, 3, 2, 2] and list(config.conv_stride) == [5, 2, 2, 2, 2, 2, 2]
    assert config.num_conv_pos_embeddings == 128 and config.num_conv_pos_embedding_groups == 16


def test_legacy_torch_format_is_a_clear_error(tmp_path, source):
    path = tmp_path / "old.pt"
    torch.save({"model": to_fairseq(source)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match=r"old\.pt.*legacy"):
        load_hubert(path)


@pytest.mark.parametrize("n", [400, 719, 720, 1040, 16000, 59200])
def test_frame_count(n):
    model = load_hubert(None, standin="tiny")
    wav = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    assert model.extract(wav, "v1").shape == ((n - 400) // 320 + 1, 256)
    assert model.extract(wav, "v2").shape == ((n - 400) // 320 + 1, 768)


def test_too_short_and_unknown_version():
    model = load_hubert(None, standin="tiny")
    with pytest.raises(ValueError, match="399 samples"):
        model.extract(np.zeros(399, np.float32), "v1")
    with pytest.raises(ValueError, match="v3"):
        model.extract(np.zeros(1600, np.float32), "v3")


def test_hf_folder_round_trip(tmp_path):
    original = standin_model("tiny")
    original.save_pretrained(tmp_path / "hf")
    loaded = load_hubert(tmp_path / "hf")
    assert not loaded.is_standin
    wav = np.random.default_rng(3).standard_normal(4000).astype(np.float32) * 0.2
    for version in ("v1", "v2"):
        np.testing.assert_array_equal(loaded.extract(wav, version), original.extract(wav, version))


def test_hf_folder_without_final_proj_is_an_error(tmp_path, source):
    source[0].save_pretrained(tmp_path / "plain_hubert")
    with pytest.raises(ValueError, match=r"plain_hubert.*missing: final_proj\.bias, final_proj\.weight"):
        load_hubert(tmp_path / "plain_hubert")


def test_standin_is_seeded_cached_and_loud(tmp_path, caplog):
    a, b = standin_model("tiny"), standin_model("tiny")
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    with caplog.at_level(logging.WARNING, logger="rvc_pipeline.features.hubert"):
        model = load_hubert(tmp_path / "missing.pt", standin="tiny")
    assert model.is_standin
    assert "RANDOMLY INITIALISED" in caplog.text and "missing.pt" in caplog.text
    assert load_hubert(tmp_path / "missing.pt", standin="tiny") is model
    with pytest.raises(ValueError, match="huge"):
        load_hubert(None, standin="huge")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_hubert(tmp_path / "missing.pt", standin=None)


class Harmless:
    """A class of no harm: still not a tensor, so ``weights_only`` refuses it as the jobs must."""


def save_hf_pickle(folder, payload=None):
    """The tiny stand-in as a Hugging Face folder whose weights are ``pytorch_model.bin``, a pickle
    holding ``payload`` beside the tensors (when given)."""
    from safetensors.torch import load_file

    standin_model("tiny").save_pretrained(folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save({**state, **({"extra": payload} if payload is not None else {})}, folder / "pytorch_model.bin")
    return folder / "pytorch_model.bin"


class SystemCall:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload, name", [("harmless", "test_hubert.Harmless"), ("system", "posix.system")])
def test_hf_pickle_with_a_non_tensor_global_is_one_line_naming_the_file_and_runs_nothing(tmp_path, payload, name):
    marker = tmp_path / "pwned"
    bin_file = save_hf_pickle(tmp_path / "hf", Harmless() if payload == "harmless" else SystemCall(marker))
    with pytest.raises(ValueError) as err:
        load_hubert(tmp_path / "hf")
    message = str(err.value)
    assert message.startswith(f"{bin_file}: cannot load the weights: refusing to unpickle it: it needs {name},")
    assert "\n" not in message
    assert not marker.exists()


def test_hf_pickle_of_plain_tensors_loads_and_differences_are_named(tmp_path):
    save_hf_pickle(tmp_path / "hf")
    assert not load_hubert(tmp_path / "hf").is_standin
    bin_file = save_hf_pickle(tmp_path / "extra", torch.zeros(2))
    with pytest.raises(ValueError, match=rf"^{bin_file}: weights do not match the model: unexpected: extra$"):
        load_hubert(tmp_path / "extra")
    state = torch.load(bin_file, weights_only=True)
    state["final_proj.weight"] = torch.zeros(3, 3)
    del state["extra"]
    torch.save(state, bin_file)
    with pytest.raises(ValueError, match=r"shape mismatch: final_proj\.weight \(3, 3\) \(model \(256, 64\)\)$"):
        load_hubert(tmp_path / "extra")
    (tmp_path / "extra" / "config.json").unlink()
    with pytest.raises(ValueError, match="without config.json"):
        load_hubert(tmp_path / "extra")
