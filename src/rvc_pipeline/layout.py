"""RVC's constants and the layout of an experiment folder: the one place that spells them.

The workflow imports this module at every Snakemake start: standard library only.
"""

from __future__ import annotations

# Sample rates: the config's (and RVC's) names of the model rates, in Hz.
SAMPLE_RATES = {"32k": 32000, "40k": 40000, "48k": 48000}
# Rate of the 16 kHz copies, of pitch extraction and of HuBERT.
FEATURE_RATE = 16000
# Pitch frames: every 160 samples at 16 kHz (10 ms).
HOP = 160
# Width of the content features per model version.
FEATURE_DIMS = {"v1": 256, "v2": 768}
# RVC's Butterworth high-pass before slicing and before conversion.
HIGHPASS_HZ = 48
HIGHPASS_ORDER = 5

# Stage folders of results/{experiment}/, named as in RVC's logs/{experiment}/; each holds one
# subfolder per source.
GT_WAVS = "0_gt_wavs"
WAVS_16K = "1_16k_wavs"
F0_COARSE = "2a_f0"
F0_HZ = "2b-f0nsf"
# The features' stage folder, ``{dim}`` the width of the model version's features (also the
# wildcard of the rule that writes it).
FEATURES = "3_feature{dim}"
RESULTS = "results"
# Other names the package knows too: per-source reports are reports/{rule}/{source}.tsv; the
# training history sits in the experiment folder; the demo synthesises its recordings.
REPORTS = "reports"
LOSSES = "losses.tsv"
# In the state folder: the first held-out segment as each saved epoch renders it.
VALIDATION_DIR = "validation"
# The planning's check of the experiment's pretrained files, read by the report's pages.
PRETRAINED_CHECKS = "pretrained.json"
DEMO_RECORDINGS = "demo_recordings"
DEMO_RECORDING = "demo_{k}"


def rate_name(hz: int) -> str:
    """RVC's name of a model rate: 40000 -> "40k"."""
    for name, rate in SAMPLE_RATES.items():
        if rate == hz:
            return name
    raise ValueError(f"no RVC model rate {hz} Hz; expected one of {sorted(SAMPLE_RATES.values())}")


def feature_folder(version: str) -> str:
    """The features' stage folder of a model version: "3_feature256" (v1) or "3_feature768" (v2)."""
    if version not in FEATURE_DIMS:
        raise ValueError(f"unknown model version {version!r}; expected one of {', '.join(FEATURE_DIMS)}")
    return FEATURES.format(dim=FEATURE_DIMS[version])


# Every per-source stage folder (what pruning a deleted source removes).
PER_SOURCE_FOLDERS = (GT_WAVS, WAVS_16K, F0_COARSE, F0_HZ, *map(feature_folder, FEATURE_DIMS))


def experiment_dir(experiment: str) -> str:
    """``results/{experiment}`` (relative to the working directory, as the workflow's paths)."""
    return f"{RESULTS}/{experiment}"


def experiment_path(experiment: str, *parts: str) -> str:
    """A path inside ``results/{experiment}``; with ``"{experiment}"`` and other wildcards, a rule's pattern."""
    return "/".join((experiment_dir(experiment), *parts))


def source_dir(experiment: str, folder: str, source: str) -> str:
    """A source's subfolder of a stage folder, e.g. ``results/alice/1_16k_wavs/take1``."""
    return experiment_path(experiment, folder, source)
