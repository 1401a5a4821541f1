import os
import re

from snakemake.utils import validate

from rvc_pipeline.logs import run_logged
from rvc_pipeline.preprocess import PreprocessParams
from rvc_pipeline.versions import F0_VERSION, FEATURES_VERSION
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
    dim="256|768",


def source_path(wildcards):
    return SOURCES[wildcards.experiment][wildcards.source]


def sample_rate_hz(wildcards):
    return SAMPLE_RATES[EXPERIMENTS[wildcards.experiment]["sample_rate"]]


def preprocess_params(wildcards):
    return PreprocessParams.from_config(config["preprocess"])


def f0_method(wildcards):
    return EXPERIMENTS[wildcards.experiment]["f0_method"]


def version(wildcards):
    return EXPERIMENTS[wildcards.experiment]["version"]


FEATURE_DIMS = {"v1": 256, "v2": 768}
HUBERT = config["pretrained"]["hubert"]
HUBERT_MISSING = (
    f"HuBERT weights {HUBERT!r} not found: features come from a random stand-in and carry no "
    "content information; a voice trained on them will not be usable (see pretrained/README.md)"
)


def hubert_input(wildcards):
    """The HuBERT weights as an input when present, so replacing them reruns extraction."""
    return {"weights": HUBERT} if os.path.exists(HUBERT) else {}


def hubert_standin(wildcards):
    return None if os.path.exists(HUBERT) else config["pretrained"]["hubert_standin"]


def dataset_warnings(wildcards):
    return [] if os.path.exists(HUBERT) else [HUBERT_MISSING]


def job_device(resources):
    """Torch device of a job: a GPU only when its resources ask for one."""
    return "cuda" if resources.get("gpu", 0) else "cpu"


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


def extract_targets(wildcards):
    targets = preprocess_targets(wildcards)
    for name, exp in EXPERIMENTS.items():
        folders = [f"3_feature{FEATURE_DIMS[exp['version']]}"]
        if exp["f0"]:
            folders += ["2a_f0", "2b-f0nsf"]
        targets += expand(
            "results/{experiment}/{folder}/{source}",
            experiment=name,
            folder=folders,
            source=SOURCES[name],
        )
    return targets


def all_targets(wildcards):
    return extract_targets(wildcards)
