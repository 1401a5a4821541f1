"""Training options: from the config, onto the job's machine, through their one serialised form."""

import json
from dataclasses import replace

import pytest

from rvc_pipeline.options import PreprocessParams, TrainOptions

CONFIG_TRAIN = {
    "model": "tiny",
    "batch_size": 4,
    "epochs": 9,
    "save_every_epoch": 3,
    "keep_latest_only": True,
    "seed": 7,
    "precision": "fp16",
    "validation_share": 0.02,
    "patience": 2,
    "export": "best",
    "tensorboard": False,
}


def test_from_config_takes_the_train_options_and_the_experiments_values():
    options = TrainOptions.from_config(CONFIG_TRAIN, version="v1", f0=False, pretrained_g="g.pth", warm_start=None)
    assert (options.batch_size, options.epochs, options.save_every_epoch, options.seed) == (4, 9, 3, 7)
    assert (options.precision, options.patience, options.keep_latest_only) == ("fp16", 2, True)
    assert (options.version, options.f0, options.pretrained_g, options.pretrained_d) == ("v1", False, "g.pth", None)
    assert (options.device, options.num_workers) == ("cpu", 0)  # runtime fields: the job's


def test_the_job_sets_device_workers_and_fp32_on_the_cpu():
    options = TrainOptions(precision="fp16")
    on_cpu, on_gpu = options.for_job(gpus=0, threads=4), options.for_job(gpus=2, threads=1)
    assert (on_cpu.device, on_cpu.precision, on_cpu.num_workers) == ("cpu", "fp32", 3)
    assert (on_gpu.device, on_gpu.precision, on_gpu.num_workers) == ("cuda", "fp16", 0)
    assert options.precision == "fp16"  # frozen: a new object each time
    with pytest.raises(AttributeError):
        options.epochs = 3


def test_json_round_trip_is_sorted_and_names_unknown_options():
    options = TrainOptions.from_config(CONFIG_TRAIN, version="v1", f0=True, warm_start="results/other")
    text = options.to_json()
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert TrainOptions.from_json(text) == options
    assert TrainOptions.from_json('{"epochs": 3}') == TrainOptions(epochs=3)
    with pytest.raises(ValueError, match="unknown training options: batch, epoch"):
        TrainOptions.from_json('{"epoch": 3, "batch": 1}')


def test_model_options_leave_out_how_long_and_how_it_trains():
    base = TrainOptions(version="v1")
    longer = dict(epochs=99, save_every_epoch=9, keep_latest_only=True, precision="bf16", patience=1, tensorboard=True)
    assert replace(base, **longer).model_options() == base.model_options()
    assert replace(base, seed=1).model_options() != base.model_options()
    assert set(base.model_options()) == {"version", "f0", "batch_size", "pretrained_g", "pretrained_d", "warm_start", "seed"}


def test_the_speaker_encoder_path_leaves_the_params_of_configs_without_it_as_they_were():
    plain = TrainOptions()
    assert "speaker_encoder" not in json.loads(plain.to_json())
    given = replace(plain, speaker_encoder="weights/encoder.pt")
    assert json.loads(given.to_json())["speaker_encoder"] == "weights/encoder.pt"
    assert TrainOptions.from_json(given.to_json()) == given
    assert given.model_options() == plain.model_options()  # measuring is not learning: nothing superseded


def test_preprocess_record_is_empty_at_the_settings_results_were_made_with_before():
    assert PreprocessParams().recorded() == {}
    assert PreprocessParams.from_config({"per": 3.7, "slicer": {"threshold_db": -42}}).recorded() == {}


def test_preprocess_record_holds_the_changed_settings_and_a_later_algorithm():
    params = PreprocessParams.from_config({"per": 3.0, "downmix": "average", "slicer": {"hop_ms": 10}})
    assert params.recorded() == {"downmix": "average", "per": 3.0, "slicer.hop_ms": 10}
    assert PreprocessParams(algorithm="3").recorded() == {"algorithm": "3"}
    # Numbers and strings only: what Snakemake's params trigger records.
    assert all(isinstance(v, (int, float, str, bool)) for v in params.recorded().values())


def test_training_version_is_left_out_at_its_first_value_and_a_bump_retrains():
    from rvc_pipeline.versions import TRAIN_VERSION

    first = TrainOptions(algorithm="1")
    assert "algorithm" not in json.loads(first.to_json()) and "algorithm" not in first.model_options()
    bumped = TrainOptions(algorithm="2")
    assert json.loads(bumped.to_json())["algorithm"] == "2"
    assert bumped.model_options()["algorithm"] == "2"  # part of the fingerprint: a fresh start
    assert TrainOptions().algorithm == TRAIN_VERSION
