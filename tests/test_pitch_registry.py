"""The pitch registry: the one list of methods that the schema, the rules, the SLURM profile, the
CLI, the pretrained needs and the docs follow."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from rvc_pipeline.cli import build_parser
from rvc_pipeline.pitch.registry import DEVICE, METHODS, POOL, _imported, device_rules, implementation, method, names
from rvc_pipeline.pretrained.manifest import ASSETS
from rvc_pipeline.pretrained.needs import fill_defaults, needed_assets


def test_schema_enums_are_the_registry():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    experiment = schema["properties"]["experiments"]["additionalProperties"]["properties"]
    convert = schema["properties"]["convert"]["properties"]
    assert experiment["f0_method"]["enum"] == list(METHODS)
    assert convert["f0_method"]["enum"] == list(METHODS)


def test_existing_methods_keep_their_versions_and_rules():
    """What their existing results were made with: another value would rerun them."""
    assert {name: METHODS[name].version for name in ("pm", "harvest", "dio", "rmvpe")} == dict.fromkeys(
        ("pm", "harvest", "dio", "rmvpe"), "1"
    )
    assert {METHODS[name].extract_rule for name in ("pm", "harvest", "dio")} == {"extract_f0"}
    assert {m.extract_rule for m in METHODS.values() if m.runs == DEVICE} == {"extract_f0_device"}


def test_every_entry_is_complete_and_its_implementation_imports():
    for entry in METHODS.values():
        assert entry.runs in (POOL, DEVICE)
        assert (entry.weights is not None) == (entry.runs == DEVICE), entry.name
        if entry.weights:
            assert entry.weights in ASSETS, entry.name
        assert callable(implementation(entry.name))
        if entry.weights:
            assert callable(_imported(entry.reader)), entry.name


def test_the_registry_imports_nothing_heavy():
    code = "import sys, rvc_pipeline.pitch.registry; print(sorted(m for m in ('numpy', 'torch', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_or_wrong_kind_is_named():
    with pytest.raises(ValueError, match=r"unknown f0 method 'yin'; expected one of pm, harvest, dio, rmvpe"):
        method("yin")
    with pytest.raises(ValueError, match="that runs in the pool; expected one of pm, harvest, dio$"):
        method("rmvpe", runs=POOL)
    assert names(POOL) == ("pm", "harvest", "dio")


def test_rules_profile_and_docs_route_every_device_rule_to_a_gpu():
    rules = "".join((REPO / "rules" / name).read_text() for name in ("extract.smk", "extract_gpu.smk"))
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "profile.yaml").read_text())
    for rule in {m.extract_rule for m in METHODS.values()} | set(device_rules()):
        assert f"rule {rule}:" in rules
    for rule in device_rules():
        assert profile["set-resources"][rule]["gpu"] == 1
        assert profile["set-resources"][rule]["slurm_partition"] == "$RVC_SLURM_GPU_PARTITION"
        for doc in ("README.md", "docs/cluster.md"):
            commands = re.findall(r"--set-resources[^`\n]*(?:\n  [^`\n]*)?", (REPO / doc).read_text())
            assert any(f"{rule}:gpu=1" in command for command in commands), (doc, rule)
    assert profile["groups"]["extract_f0"] == "per_source"


def test_cli_offers_every_method():
    parser = build_parser()
    args = parser.parse_args(["convert", "m.pth", "in.wav", "out.wav", "--f0-method", list(METHODS)[-1]])
    assert args.f0_method == list(METHODS)[-1]
    with pytest.raises(SystemExit):
        parser.parse_args(["convert", "m.pth", "in.wav", "out.wav", "--f0-method", "yin"])


@pytest.mark.parametrize("name", [m.name for m in METHODS.values() if m.weights])
def test_needed_assets_name_each_methods_weights(name):
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    for experiment, convert in (({"f0_method": name}, {}), ({"f0_method": "pm", "demo": 1}, {"f0_method": name})):
        config = fill_defaults({"experiments": {"exp": experiment}, "convert": convert}, schema)
        [need] = [need for need in needed_assets(config) if need.role == name]
        assert need.asset.key == METHODS[name].weights and need.required and need.experiments == ("exp",)
    without_pitch = fill_defaults({"experiments": {"exp": {"f0": False, "f0_method": name}}}, schema)
    assert not [need for need in needed_assets(without_pitch) if need.role == name]
