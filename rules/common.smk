import os
import re

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from rvc_pipeline.layout import (
    DEMO_RECORDING,
    DEMO_RECORDINGS,
    F0_COARSE,
    F0_HZ,
    FEATURE_DIMS,
    FEATURES,
    GT_WAVS,
    LOSSES,
    REPORTS,
    SAMPLE_RATES,
    WAVS_16K,
    experiment_dir,
    experiment_path,
    feature_folder,
    source_dir,
)
from rvc_pipeline.locks import lock_holder
from rvc_pipeline.logs import run_logged
from rvc_pipeline.options import PreprocessParams, TrainOptions
from rvc_pipeline.sources import demo_sources, discover_sources
from rvc_pipeline.versions import (
    F0_VERSION,
    FEATURES_VERSION,
    INDEX_VERSION,
    RMVPE_VERSION,
)
from rvc_pipeline.workers import useful_width, worker_pool

validate(config, "../config/schema.yaml")

EXPERIMENTS = config["experiments"]

# Rule patterns of an experiment's files: per-source stage folders (their names are RVC's, in
# rvc_pipeline.layout) and the files more than one rule or target names.
GT_WAVS_DIR = source_dir("{experiment}", GT_WAVS, "{source}")
SEGMENTS_16K = source_dir("{experiment}", WAVS_16K, "{source}")
F0_COARSE_DIR = source_dir("{experiment}", F0_COARSE, "{source}")
F0_HZ_DIR = source_dir("{experiment}", F0_HZ, "{source}")
FEATURES_DIR = source_dir("{experiment}", FEATURES, "{source}")
SLICE_REPORT = experiment_path("{experiment}", REPORTS, "slice_audio", "{source}.tsv")
FEATURES_REPORT = experiment_path(
    "{experiment}", REPORTS, "extract_features{dim}", "{source}.tsv"
)
DEMO_RECORDING_WAV = experiment_path(
    "{experiment}", DEMO_RECORDINGS, f"{DEMO_RECORDING}.wav"
)
DATASET_REPORT = experiment_path("{experiment}", "dataset_report.tsv")
SOURCES_TXT = experiment_path("{experiment}", "sources.txt")
FILELIST_TXT = experiment_path("{experiment}", "filelist.txt")
MUTE_DIR = experiment_path("{experiment}", "mute")
CONFIG_JSON = experiment_path("{experiment}", "config.json")
FILELIST_REPORT = experiment_path("{experiment}", REPORTS, "filelist.tsv")
VALIDATION_TXT = experiment_path("{experiment}", "validation.txt")
TRAINED_JSON = experiment_path("{experiment}", "trained.json")
LOSSES_TSV = experiment_path("{experiment}", LOSSES)
EXPORTED_MODEL = experiment_path("{experiment}", "weights", "{experiment}.pth")
INDEX_DIR = experiment_path("{experiment}", "index")
INDEX_BENCHMARK = experiment_path("{experiment}", "benchmarks", "train_index.tsv")
CONVERTED_WAV = experiment_path("{experiment}", "converted", "{name}.wav")


def _scan(name):
    """(sources, excluded) of one experiment: name -> file, entry -> (status, reason)."""
    exp = EXPERIMENTS[name]
    if exp["demo"]:
        return demo_sources(experiment_path(name, DEMO_RECORDINGS), exp["demo"]), {}
    if not os.path.isdir(exp["input_dir"]):
        return {}, {}
    return discover_sources(exp["input_dir"])


def _convert_scan(name):
    """Recordings to convert: convert_dir's files, or a demo's first recording."""
    exp = EXPERIMENTS[name]
    if "convert_dir" in exp:
        return discover_sources(exp["convert_dir"])[0]
    if exp["demo"]:
        return demo_sources(experiment_path(name, DEMO_RECORDINGS), 1)
    return {}


def _warn_unused(name):
    """Name, when the run starts, the entries that look like recordings but are not used."""
    unused = [e for e, (status, _) in EXCLUDED[name].items() if status != "ignored"]
    if unused:
        logger.warning(
            f"WARNING: experiment {name!r}: {len(unused)} entries not used (reasons in "
            f"{DATASET_REPORT.format(experiment=name)}): {', '.join(map(repr, unused))}"
        )


def _untrainable(name):
    """Why an experiment without a single recording is not trained (warned about now)."""
    folder = EXPERIMENTS[name]["input_dir"]
    exists = "holds no recordings" if os.path.isdir(folder) else "does not exist"
    reason = f"input_dir {folder!r} {exists}"
    logger.warning(f"WARNING: experiment {name!r} is not trained: {reason}")
    return reason


SOURCES = {}
EXCLUDED = {}
CONVERT = {}
for _name in EXPERIMENTS:
    SOURCES[_name], EXCLUDED[_name] = _scan(_name)
    CONVERT[_name] = _convert_scan(_name)
    _warn_unused(_name)
# An experiment without recordings still gets its dataset_report.tsv but is left out of the
# train, index and convert targets, so the others run. (One whose recordings are all dropped
# while slicing fails at write_filelist; the profiles' keep-going lets the others finish.)
UNTRAINABLE = {name: _untrainable(name) for name in EXPERIMENTS if not SOURCES[name]}
TRAINABLE = [name for name in EXPERIMENTS if name not in UNTRAINABLE]


def _trained_elsewhere(name):
    """Who trains the experiment now (another run, e.g. one left running before --unlock)."""
    holder = lock_holder(experiment_dir(name))
    if holder:
        logger.warning(
            f"WARNING: experiment {name!r} is being trained by {holder}: this run leaves its "
            "training and conversions alone"
        )
    return holder


# Checked by the main process only: cluster jobs parse the workflow again while training runs.
BUSY = [
    name for name in TRAINABLE if workflow.is_main_process and _trained_elsewhere(name)
]
TO_TRAIN = [name for name in TRAINABLE if name not in BUSY]


wildcard_constraints:
    experiment="|".join(map(re.escape, EXPERIMENTS)),
    source="[^/]+",
    dim="|".join(map(str, FEATURE_DIMS.values())),
    name="[^/]+",


def source_path(wildcards):
    return SOURCES[wildcards.experiment][wildcards.source]


def sample_rate_hz(wildcards):
    return SAMPLE_RATES[EXPERIMENTS[wildcards.experiment]["sample_rate"]]


def segment_threads(wildcards, input):
    """Threads of a per-segment job: as many as its segments keep busy (``useful_width``);
    Snakemake caps it at --cores.

    Evaluated again just before the job runs, once its segments exist; 1 until then.
    """
    folder = input.wav_dir
    if not os.path.isdir(folder):
        return 1
    return useful_width(
        e.stat().st_size for e in os.scandir(folder) if e.name.endswith(".wav")
    )


def f0_method(wildcards):
    return EXPERIMENTS[wildcards.experiment]["f0_method"]


def version(wildcards):
    return EXPERIMENTS[wildcards.experiment]["version"]


HUBERT = config["pretrained"]["hubert"]
HUBERT_MISSING = (
    f"HuBERT weights {HUBERT!r} not found: features come from a random stand-in and carry no "
    "content information; a voice trained on them will not be usable (see pretrained/README.md)"
)


if not os.path.exists(HUBERT):
    logger.warning(f"WARNING: {HUBERT_MISSING}")


def hubert_input(wildcards):
    """The HuBERT weights as an input when present, so replacing them reruns extraction."""
    return {"weights": HUBERT} if os.path.exists(HUBERT) else {}


# Values the same for every job are constants, not functions: Snakemake evaluates the params of
# every job at every start.
PREPROCESS = PreprocessParams.from_config(config["preprocess"])
HUBERT_STANDIN = (
    None if os.path.exists(HUBERT) else config["pretrained"]["hubert_standin"]
)


def dataset_warnings(wildcards):
    warnings = [] if os.path.exists(HUBERT) else [HUBERT_MISSING]
    if wildcards.experiment in UNTRAINABLE:
        warnings.append(f"not trained: {UNTRAINABLE[wildcards.experiment]}")
    return warnings


# --- RMVPE pitch: its own rule (GPU where there is one), weights required, no stand-in ---
RMVPE = config["pretrained"]["rmvpe"]


def _experiments_pattern(names):
    """A wildcard pattern matching exactly these experiments (none: a pattern matching nothing)."""
    return "|".join(map(re.escape, names)) or "(?!)"


# extract_f0 and extract_f0_rmvpe write the same folders; each rule matches only its experiments.
RMVPE_F0_EXPERIMENTS = _experiments_pattern(
    name for name, exp in EXPERIMENTS.items() if exp["f0_method"] == "rmvpe"
)
OTHER_F0_EXPERIMENTS = _experiments_pattern(
    name for name, exp in EXPERIMENTS.items() if exp["f0_method"] != "rmvpe"
)


def _converts_with_rmvpe(name):
    return config["convert"]["f0_method"] == "rmvpe" and EXPERIMENTS[name]["f0"]


_RMVPE_USERS = [
    name
    for name, exp in EXPERIMENTS.items()
    if (exp["f0"] and exp["f0_method"] == "rmvpe")
    or (CONVERT[name] and _converts_with_rmvpe(name))
]
if _RMVPE_USERS and not os.path.isfile(RMVPE):
    raise WorkflowError(
        f"pretrained.rmvpe: RMVPE weights {RMVPE!r} not found, and f0_method rmvpe needs them "
        f"(experiments: {', '.join(_RMVPE_USERS)}). Put RVC's rmvpe.pt there or set "
        "pretrained: {rmvpe: PATH} in the config (see pretrained/README.md)."
    )


def convert_rmvpe_input(wildcards):
    """The RMVPE weights when the experiment's conversion takes its pitch from them."""
    return {"rmvpe": RMVPE} if _converts_with_rmvpe(wildcards.experiment) else {}


# --- end RMVPE ---


def job_device(resources):
    """Torch device of a job: a GPU only when its resources ask for one."""
    return "cuda" if resources.get("gpu", 0) else "cpu"


def output_folder(wildcards, output):
    """The folder of a job's first output (the experiment folder, for training's state)."""
    return os.path.dirname(output[0])


def input_folder(wildcards):
    return EXPERIMENTS[wildcards.experiment].get("input_dir")


def speaker_id(wildcards):
    return EXPERIMENTS[wildcards.experiment]["speaker_id"]


def _per_source(wildcards, folder):
    name = wildcards.experiment
    return [source_dir(name, folder, source) for source in SOURCES[name]]


def filelist_inputs(wildcards):
    """Every source's stage folders plus the mute assets (f0 folders only for pitch models)."""
    exp = EXPERIMENTS[wildcards.experiment]
    inputs = {
        "gt_wavs": _per_source(wildcards, GT_WAVS),
        "features": _per_source(wildcards, feature_folder(exp["version"])),
        "mute_dir": MUTE_DIR.format(experiment=wildcards.experiment),
        "source_reports": source_reports(wildcards),
    }
    if exp["f0"]:
        inputs["f0_coarse"] = _per_source(wildcards, F0_COARSE)
        inputs["f0_hz"] = _per_source(wildcards, F0_HZ)
    return inputs


def _pretrained_path(name, kind):
    exp = EXPERIMENTS[name]
    return config["pretrained"][kind].format(
        f0="f0" if exp["f0"] else "", sr=exp["sample_rate"], version=exp["version"]
    )


def _wants_pretrained(name):
    return config["train"]["model"] == "rvc" and "warm_start" not in EXPERIMENTS[name]


def _pretrained(wildcards, kind):
    """RVC's pretrained G or D for the experiment, if the file exists and the model is RVC's."""
    path = _pretrained_path(wildcards.experiment, kind)
    return (
        path
        if _wants_pretrained(wildcards.experiment) and os.path.exists(path)
        else None
    )


for _name in EXPERIMENTS:
    if _wants_pretrained(_name) and not os.path.exists(
        _pretrained_path(_name, "generator")
    ):
        logger.warning(
            f"WARNING: no pretrained G {_pretrained_path(_name, 'generator')!r} for experiment "
            f"{_name!r}: training starts from random weights"
        )


def train_inputs(wildcards):
    """Pretrained G/D when used (so replacing them retrains), or the warm-start experiment."""
    exp = EXPERIMENTS[wildcards.experiment]
    inputs = {
        kind: _pretrained(wildcards, kind)
        for kind in ("generator", "discriminator")
        if _pretrained(wildcards, kind)
    }
    if "warm_start" in exp:
        inputs["warm_start"] = TRAINED_JSON.format(experiment=exp["warm_start"])
    return inputs


def train_options(wildcards):
    """The experiment's TrainOptions as JSON: Snakemake's params trigger records strings, not objects."""
    exp = EXPERIMENTS[wildcards.experiment]
    warm = exp.get("warm_start")
    return TrainOptions.from_config(
        config["train"],
        version=exp["version"],
        f0=exp["f0"],
        pretrained_g=_pretrained(wildcards, "generator"),
        pretrained_d=_pretrained(wildcards, "discriminator"),
        warm_start=experiment_dir(warm) if warm else None,
    ).to_json()


def index_features(wildcards):
    return _per_source(wildcards, feature_folder(version(wildcards)))


def convert_source(wildcards):
    return CONVERT[wildcards.experiment][wildcards.name]


def convert_settings(wildcards):
    return {**config["convert"], "sid": speaker_id(wildcards)}


def source_reports(wildcards):
    return expand(
        SLICE_REPORT,
        experiment=wildcards.experiment,
        source=SOURCES[wildcards.experiment],
    )


def excluded_entries(wildcards):
    return EXCLUDED[wildcards.experiment]


def source_names(wildcards):
    return sorted(SOURCES[wildcards.experiment])


# ---- report (issue 10): the per-experiment pages of `snakemake --report` ---------------------
# Each stage has pages results/{experiment}/report/{page}.html and a figure {page}.png; a stage's
# target builds them, since the report only shows outputs of jobs that ran. Conversion has a
# folder of pages, one per recording.
REPORT_FILES = {
    "preprocess": ["data.html", "data.png"],
    "extract": ["pitch.html", "pitch.png"],
    "train": ["training.html", "training.png", "validation.html", "validation.png"],
    "index": ["index.html", "index.png"],
    "convert": ["conversion", "conversion.png"],
}


def report_pages(name, stage):
    """The report files of one experiment's stage (no Pitch without f0, no Conversion without recordings)."""
    wanted = {"pitch": EXPERIMENTS[name]["f0"], "conversion": bool(CONVERT[name])}
    return [
        experiment_path(name, "report", file)
        for file in REPORT_FILES[stage]
        if wanted.get(file.split(".")[0], True)
    ]


def report_gt_wavs(wildcards):
    return _per_source(wildcards, GT_WAVS)


def report_f0_hz(wildcards):
    return _per_source(wildcards, F0_HZ)


def source_files(wildcards):
    return SOURCES[wildcards.experiment]


def state_folder(wildcards, input):
    """The experiment folder (training state) of a job whose first input is its trained.json."""
    return os.path.dirname(input.trained)


def converted_pairs(wildcards):
    """The experiment's converted recordings and, in the same order, their sources."""
    names = sorted(CONVERT[wildcards.experiment])
    return {
        "converted": expand(CONVERTED_WAV, experiment=wildcards.experiment, name=names),
        "sources": [CONVERT[wildcards.experiment][n] for n in names],
    }


# ---- end of report ------------------------------------------------------------------------


# A job makes all its outputs, so a target asks for one output per job it needs: every file
# named here costs Snakemake time at every start (a third of a dry run with 10,000 sources).
def preprocess_targets(wildcards):
    """Each experiment's dataset report (it needs every source's slicing job) and Data pages."""
    return [
        path
        for name in EXPERIMENTS
        for path in [DATASET_REPORT.format(experiment=name)]
        + report_pages(name, "preprocess")
    ]


def extract_targets(wildcards):
    """Plus each source's features and (for pitch models) its pitch."""
    targets = preprocess_targets(wildcards)
    for name, exp in EXPERIMENTS.items():
        folders = [feature_folder(exp["version"])]
        if exp["f0"]:
            folders.append(F0_COARSE)
        targets += report_pages(name, "extract")
        targets += [
            source_dir(name, folder, source)
            for folder in folders
            for source in SOURCES[name]
        ]
    return targets


def _weights(wildcards):
    return [
        path
        for name in TO_TRAIN
        for path in [EXPORTED_MODEL.format(experiment=name)]
        + report_pages(name, "train")
    ]


def _indexes(wildcards):
    return [
        path
        for name in TRAINABLE
        for path in [INDEX_DIR.format(experiment=name)] + report_pages(name, "index")
    ]


def _pitch_pages(wildcards):
    return [path for name in EXPERIMENTS for path in report_pages(name, "extract")]


def train_targets(wildcards):
    """The exported voices (training needs every stage of every source) and the report's pages."""
    return preprocess_targets(wildcards) + _pitch_pages(wildcards) + _weights(wildcards)


def index_targets(wildcards):
    return extract_targets(wildcards) + _indexes(wildcards)


def all_targets(wildcards):
    converted = [
        CONVERTED_WAV.format(experiment=name, name=recording)
        for name in TO_TRAIN
        for recording in CONVERT[name]
    ] + [path for name in TO_TRAIN for path in report_pages(name, "convert")]
    return (
        preprocess_targets(wildcards)
        + _pitch_pages(wildcards)
        + _weights(wildcards)
        + _indexes(wildcards)
        + converted
    )
