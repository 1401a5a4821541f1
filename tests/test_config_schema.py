"""One value per default and enum: the schema and the package's typed options, CLI and constants agree."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import yaml
from conftest import REPO

from rvc_pipeline.audio import DOWNMIXES
from rvc_pipeline.cli import build_parser
from rvc_pipeline.filters import HIGHPASS_MODES
from rvc_pipeline.layout import FEATURE_DIMS, SAMPLE_RATES
from rvc_pipeline.options import PRECISIONS, RUNTIME_OPTIONS, PreprocessParams, SlicerParams, TrainOptions

SCHEMA = yaml.safe_load((REPO / "config/schema.yaml").read_text())["properties"]
EXPERIMENT = SCHEMA["experiments"]["additionalProperties"]["properties"]
# Fields of the typed options that the config does not set (RVC's fixed numbers, the algorithm
# version, what the job decides for its machine): the schema must not name them.
PREPROCESS_FIXED = {"norm_max", "norm_alpha", "clip_level", "algorithm"}
TRAIN_FIXED = RUNTIME_OPTIONS | {"log_interval", "algorithm"}  # algorithm: the code's version
# Options the experiment (not the train section) sets, and how the schema names them there.
TRAIN_FROM_EXPERIMENT = {"version": "version", "f0": "f0", "warm_start": "warm_start"}
TRAIN_FROM_PRETRAINED = {"pretrained_g", "pretrained_d", "speaker_encoder"}  # paths from the pretrained section


def _defaults(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def _schema_defaults(properties: dict) -> dict:
    return {key: prop["default"] for key, prop in properties.items() if "default" in prop}


def test_preprocess_defaults_are_the_schemas():
    section = SCHEMA["preprocess"]["properties"]
    fields = _defaults(PreprocessParams)
    assert set(section) == set(fields) - PREPROCESS_FIXED | {"slicer"}  # slicer: a default_factory
    flat = {k: v for k, v in section.items() if k != "slicer"}
    assert {k: fields[k] for k in flat} == _schema_defaults(flat)
    assert _defaults(SlicerParams) == _schema_defaults(section["slicer"]["properties"])
    assert tuple(section["highpass"]["enum"]) == HIGHPASS_MODES
    assert tuple(section["downmix"]["enum"]) == DOWNMIXES


def test_training_defaults_are_the_schemas():
    section = SCHEMA["train"]["properties"]
    fields = _defaults(TrainOptions)
    config_set = set(fields) - TRAIN_FIXED - set(TRAIN_FROM_EXPERIMENT) - TRAIN_FROM_PRETRAINED
    # Every option the train section sets has the schema's default; the section's other keys
    # (model, export, validation_share) belong to other steps.
    assert config_set <= set(section)
    assert {k: fields[k] for k in config_set} == {k: section[k]["default"] for k in config_set}
    assert {k: fields[k] for k in ("version", "f0")} == {k: EXPERIMENT[k]["default"] for k in ("version", "f0")}
    assert "default" not in EXPERIMENT["warm_start"] and fields["warm_start"] is None
    assert tuple(section["precision"]["enum"]) == PRECISIONS


def test_enums_of_the_package_constants_are_the_schemas():
    from rvc_pipeline.features.hubert.standin import STANDIN_SIZES
    from rvc_pipeline.training.export import BEST_BY_CHOICES, EXPORT_CHOICES
    from rvc_pipeline.training.history import BEST_BY

    assert EXPERIMENT["sample_rate"]["enum"] == list(SAMPLE_RATES)
    assert EXPERIMENT["version"]["enum"] == list(FEATURE_DIMS)
    assert tuple(SCHEMA["train"]["properties"]["export"]["enum"]) == EXPORT_CHOICES
    assert SCHEMA["train"]["properties"]["best_by"]["enum"] == list(BEST_BY)
    assert BEST_BY_CHOICES == tuple(f"best:{name}" for name in BEST_BY if name != "val_loss_mel")
    assert SCHEMA["pretrained"]["properties"]["hubert_standin"]["enum"] == list(STANDIN_SIZES)


def _convert_cli_defaults() -> dict:
    return vars(build_parser().parse_args(["convert", "model.pth", "in.wav", "out.wav"]))


@pytest.mark.parametrize("key", ["index_rate", "protect", "transpose", "f0_method", "rms_mix_rate"])
def test_conversion_defaults_are_the_schemas(key):
    from rvc_pipeline.convert.pipeline import convert_file

    default = SCHEMA["convert"]["properties"][key]["default"]
    assert _convert_cli_defaults()[key] == default
    assert inspect.signature(convert_file).parameters[key].default == default


def test_conversion_cli_reads_the_pretrained_files_of_the_schema():
    pretrained = SCHEMA["pretrained"]["properties"]
    cli = _convert_cli_defaults()
    from rvc_pipeline.cli import default_f0_weights

    assert cli["f0_weights"] is None  # then the method's file where `pretrained fetch` puts it:
    assert str(default_f0_weights("rmvpe")) == pretrained["rmvpe"]["default"]
    assert cli["hubert_standin"] == pretrained["hubert_standin"]["default"]
    assert cli["sid"] == EXPERIMENT["speaker_id"]["default"]


def test_config_readme_is_generated_from_the_schema_and_describes_every_key():
    from rvc_pipeline.config_doc import render, rows

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    assert (REPO / "config/README.md").read_text() == render(schema), (
        "config/README.md is out of date: run `python -m rvc_pipeline.config_doc` from the repository root"
    )
    table = list(rows(schema["properties"]))
    assert ("preprocess.slicer.hop_ms", "integer, ≥ 1", "`15`", "Step of the RMS frames.") in table
    assert [key for key, _, _, text in table if not text] == []


TOP_LEVEL_KEYS = "experiments, preprocess, pretrained, train, convert, gpu_batch_size, gpu_batch_resources"
SLICING_KEYS = "per, overlap, highpass, max_peak, strict, downmix, slicer"
TYPOS = {
    "trian": (
        {"trian": {"epochs": 3}},
        f"unknown key 'trian' (did you mean 'train'?) at the top level; the keys there are {TOP_LEVEL_KEYS}",
    ),
    "pre": (
        {"preprocess": {"pre": 3}},
        f"unknown key 'pre' (did you mean 'per'?) in preprocess; the keys there are {SLICING_KEYS}",
    ),
    "two": (
        {"zzz": 1, "qqq": 2},
        f"unknown keys 'zzz', 'qqq' at the top level; the keys there are {TOP_LEVEL_KEYS}",
    ),
    "enum": ({"experiments": {"e": {"demo": 1, "sample_rate": "41k"}}}, "experiments.e.sample_rate: '41k' is not one of ['32k', '40k', '48k']"),
    "required": ({"experiments": {"e": {}}}, "experiments.e: 'input_dir' is a required property"),
}


@pytest.mark.parametrize("case", TYPOS)
def test_a_config_that_the_schema_refuses_is_one_line_naming_the_key(case):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    from rvc_pipeline.config_errors import config_error

    config, line = TYPOS[case]
    with pytest.raises(WorkflowError) as refused:
        validate({"experiments": {"e": {"demo": 1}}, **config}, str(REPO / "config/schema.yaml"))
    assert len(str(refused.value).splitlines()) > 5  # Snakemake's own message prints the schema
    assert config_error(refused.value, ["my.yaml"]) == f"config (my.yaml): {line}"


@pytest.mark.slow
def test_the_workflow_names_a_misspelt_key_in_one_line(workflow):
    for case in ("trian", "pre"):
        config, line = TYPOS[case]
        workflow.write_config({"experiments": {"e": {"demo": 1}}, **config})
        refused = workflow.run("-n", check=False)
        assert refused.returncode == 1
        said = refused.stdout + refused.stderr
        assert f"config ({workflow.workdir / 'config.yaml'}): {line}\n" in said
        assert len(said.splitlines()) < 6, said
