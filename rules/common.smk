import os
import re

from snakemake.utils import validate

from rvc_pipeline.logs import run_logged
from rvc_pipeline.preprocess import PreprocessParams
from rvc_pipeline.sources import demo_sources, discover_sources

validate(config, "../config/schema.yaml")

EXPERIMENTS = config["experiments"]
SAMPLE_RATES = {"32k": 32000, "40k": 40000, "48k": 48000}


def _scan(name):
    """(sources, ignored) of one experiment: name -> file, entry -> reason."""
    exp = EXPERIMENTS[name]
    if exp["demo"]:
        return demo_sources(f"results/{name}/demo_recordings", exp["demo"]), {}
    return discover_sources(exp["input_dir"])


SOURCES = {}
IGNORED = {}
for _name in EXPERIMENTS:
    SOURCES[_name], IGNORED[_name] = _scan(_name)


wildcard_constraints:
    experiment="|".join(map(re.escape, EXPERIMENTS)),
    source="[^/]+",


def source_path(wildcards):
    return SOURCES[wildcards.experiment][wildcards.source]


def sample_rate_hz(wildcards):
    return SAMPLE_RATES[EXPERIMENTS[wildcards.experiment]["sample_rate"]]


def preprocess_params(wildcards):
    return PreprocessParams.from_config(config["preprocess"])


def source_reports(wildcards):
    return expand(
        "results/{{experiment}}/reports/slice_audio/{source}.tsv",
        source=SOURCES[wildcards.experiment],
    )


def ignored_entries(wildcards):
    return IGNORED[wildcards.experiment]


def source_names(wildcards):
    return sorted(SOURCES[wildcards.experiment])


def preprocess_targets(wildcards):
    return [
        path
        for name in EXPERIMENTS
        for path in [f"results/{name}/dataset_report.tsv"]
        + expand(
            "results/{experiment}/{folder}/{source}",
            experiment=name,
            folder=["0_gt_wavs", "1_16k_wavs"],
            source=SOURCES[name],
        )
    ]


def all_targets(wildcards):
    return preprocess_targets(wildcards)
