import os
import re

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from rvc_pipeline.devices import job_device as device_for_gpus
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
from rvc_pipeline.gpu_batches import gpu_batches
from rvc_pipeline.locks import lock_holder
from rvc_pipeline.logs import run_logged
from rvc_pipeline.options import PreprocessParams, TrainOptions
from rvc_pipeline.planning import (
    collect_as_usual,
    collect_less_while_planning,
    convert_sources,
    scan_sources,
    untrainable_reason,
    unused_entries,
    warm_start_folder,
)
from rvc_pipeline.pitch.registry import METHODS as PITCH_METHODS
from rvc_pipeline.pitch.registry import RULES as PITCH_RULES
from rvc_pipeline.pitch.registry import DEVICE as ON_DEVICE
from rvc_pipeline.pretrained.needs import (
    GD_ROLES,
    fetch_folder,
    needed_assets,
    pitch_weight_paths,
    speaker_encoder_path,
    training_speaker_encoder,
    unused_with_tiny,
)
from rvc_pipeline.pretrained.verify import (
    unusable_message,
    verify_config,
    write_experiment_checks,
)
from rvc_pipeline.preprocess.source_changes import SEEN_FILE, age_replaced_sources
from rvc_pipeline.stopping import forward_stop_signals
from rvc_pipeline.run_summary import cancel_waiting_timers, experiment_outcomes
from rvc_pipeline.training.rvc_folder import check_folder, folder_files
from rvc_pipeline.versions import FEATURES_VERSION, INDEX_VERSION
from rvc_pipeline.workers import useful_width, worker_pool

from rvc_pipeline.config_errors import config_error
from rvc_pipeline.logs import quiet_log_errors
from rvc_pipeline.workdir import unwritable_reason

# Snakemake's own message prints the schema (all of it for a misspelt top-level key): one line.
try:
    validate(config, "../config/schema.yaml")
except WorkflowError as invalid:
    raise WorkflowError(config_error(invalid, workflow.configfiles)) from None

# Snakemake takes its lock in .snakemake/ only after this parse: a read-only or full working
# directory stops here with one line, and log files a full disk refuses drop records quietly.
quiet_log_errors()
_unwritable = workflow.is_main_process and unwritable_reason(os.getcwd())
if _unwritable:
    raise WorkflowError(_unwritable)

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
CONVERSION_QUALITY = experiment_path("{experiment}", REPORTS, "measure_conversion.tsv")


def _warn_unused(name):
    """Name, when the run starts, the entries that look like recordings but are not used."""
    unused = unused_entries(EXCLUDED[name])
    if unused:
        logger.warning(
            f"WARNING: experiment {name!r}: {len(unused)} entries not used (reasons in "
            f"{DATASET_REPORT.format(experiment=name)}): {', '.join(map(repr, unused))}"
        )


def _untrainable(name):
    """Why an experiment without a single recording is not trained (warned about now)."""
    reason = untrainable_reason(EXPERIMENTS[name]["input_dir"])
    logger.warning(f"WARNING: experiment {name!r} is not trained: {reason}")
    return reason


SOURCES = {}
EXCLUDED = {}
CONVERT = {}
for _name in EXPERIMENTS:
    _demo_dir = experiment_path(_name, DEMO_RECORDINGS)
    SOURCES[_name], EXCLUDED[_name] = scan_sources(EXPERIMENTS[_name], _demo_dir)
    CONVERT[_name] = convert_sources(EXPERIMENTS[_name], _demo_dir)
    _warn_unused(_name)
# An experiment without recordings still gets its dataset_report.tsv but is left out of the
# train, index and convert targets, so the others run. (One whose recordings are all dropped
# while slicing fails at write_filelist; the profiles' keep-going lets the others finish.)
UNTRAINABLE = {name: _untrainable(name) for name in EXPERIMENTS if not SOURCES[name]}
TRAINABLE = [name for name in EXPERIMENTS if name not in UNTRAINABLE]
# A file given as input_dir is a mistake in the config, not an empty folder: the run fails at its
# end (summarize_run), after the other experiments' jobs.
MISCONFIGURED = {
    name: reason
    for name, reason in UNTRAINABLE.items()
    if os.path.isfile(EXPERIMENTS[name].get("input_dir", ""))
}


def _trained_elsewhere(name):
    """Who trains the experiment now (another run, e.g. one left running before --unlock)."""
    holder = lock_holder(experiment_dir(name))
    if holder:
        logger.warning(
            f"WARNING: experiment {name!r} is being trained by {holder}: this run leaves its "
            "training and conversions alone"
        )
    return holder


def _age_replaced(name):
    """Make Snakemake rerun the slicing of recordings replaced by files not newer than their segments."""
    for message in age_replaced_sources(
        experiment_path(name, REPORTS, SEEN_FILE),
        SOURCES[name],
        SLICE_REPORT.format(experiment=name, source="{source}"),
    ):
        logger.warning(f"experiment {name!r}: {message}")


def summarize_run(failed):
    """The run's last lines, one per experiment (the Snakefile's onsuccess and onerror). A run
    whose jobs all went well fails here when an experiment it was to train has no model.
    """
    cancel_waiting_timers()
    dag = workflow.dag
    exports = [job for job in dag.jobs if job.rule.name == "export_model"]
    outcomes = experiment_outcomes(
        EXPERIMENTS,
        untrainable=UNTRAINABLE,
        busy=BUSY,
        requested={job.wildcards.experiment for job in exports},
        unfinished={
            job.wildcards.experiment
            for job in exports
            if dag.needrun(job) and not dag.finished(job)
        },
        failures=MISCONFIGURED,
    )
    for outcome in outcomes:
        log = logger.warning if outcome.missing_model else logger.info
        log(f"experiment {outcome.line}")
    missing = [outcome.experiment for outcome in outcomes if outcome.missing_model]
    if missing and not failed:
        raise WorkflowError(
            f"no model for experiment(s) {', '.join(missing)}: the reasons are above"
        )


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
    return _segment_width(input.wav_dir)


def batch_threads(wildcards, input):
    """Threads of a GPU batch job: those of its recording with the most segments."""
    return max(map(_segment_width, input.wav_dirs))


def _segment_width(folder):
    if not os.path.isdir(folder):
        return 1
    return useful_width(
        e.stat().st_size for e in os.scandir(folder) if e.name.endswith(".wav")
    )


def f0_method(wildcards):
    return EXPERIMENTS[wildcards.experiment]["f0_method"]


def f0_version(wildcards):
    """The algorithm version of the experiment's pitch method (the registry's)."""
    return PITCH_METHODS[f0_method(wildcards)].version


def pitch_rule_version(extract_rule):
    """The ``algorithm`` param of ``extract_rule`` (a pitch rule), the one version of its methods
    when they share it (the value `f0_version` gives, so nothing reruns; a callable param costs
    Snakemake a signature inspection per job, 0.3 s at 10,000 sources), else `f0_version`.
    """
    versions = {
        m.version for m in PITCH_METHODS.values() if m.extract_rule == extract_rule
    }
    return versions.pop() if len(versions) == 1 else f0_version


def device_method_record(wildcards):
    """The ``method`` param of extract_f0_device: the experiment's pitch method, except for rmvpe,
    whose jobs had a rule of their own that recorded only its version. Snakemake compares the
    params as a set of values, so rmvpe's version given twice records what those jobs recorded
    and existing rmvpe results plan no job; a new rmvpe version still reruns them."""
    method = f0_method(wildcards)
    return PITCH_METHODS[method].version if method == "rmvpe" else method


def version(wildcards):
    return EXPERIMENTS[wildcards.experiment]["version"]


def _pattern_of(names):
    """A wildcard pattern matching exactly these names (none: a pattern matching nothing)."""
    return "|".join(map(re.escape, names)) or "(?!)"


# --- pretrained files: which ones the experiments use comes from the package (needs.py) ---
# With pretrained: {download: true} they are outputs of fetch_pretrained (rules/pretrained.smk),
# so they count as present here; otherwise only files already there are used.
DOWNLOAD = config["pretrained"]["download"]
NEEDS = needed_assets(
    config, converting=[name for name in EXPERIMENTS if CONVERT[name]]
)
# What fetch_pretrained makes: the needed files not there yet. Files already there stay plain
# source files (no rule claims them, so Snakemake asks for no provenance of them).
FETCHABLE = {
    need.path: need.asset.key
    for need in NEEDS
    if need.asset and not os.path.exists(need.path)
}
PRETRAINED_TARGETS = sorted(FETCHABLE)
# fetch_pretrained's output starts with the folder the fetchable files share: an output that starts
# with a wildcard is matched against every file Snakemake looks up (0.2 s at 10,000 sources).
FETCH_FOLDER = fetch_folder(FETCHABLE)
FETCHABLE_PATTERN = _pattern_of(path[len(FETCH_FOLDER) :] for path in FETCHABLE)


def pretrained_asset(wildcards):
    """The manifest key of the file fetch_pretrained makes."""
    return FETCHABLE[FETCH_FOLDER + wildcards.pretrained_file]


PRETRAINED_GD = {
    (name, need.role): need.path
    for need in NEEDS
    if need.role in GD_ROLES
    for name in need.experiments
}


def _present(path):
    return DOWNLOAD or os.path.exists(path)


HUBERT = config["pretrained"]["hubert"]
HUBERT_MISSING = (
    f"HuBERT weights {HUBERT!r} not found: features come from a random stand-in and carry no "
    "content information; a voice trained on them will not be usable (see pretrained/README.md)"
)


if not _present(HUBERT):
    logger.warning(f"WARNING: {HUBERT_MISSING}")


def hubert_input(wildcards):
    """The HuBERT weights as an input when present, so replacing them reruns extraction."""
    return {"weights": HUBERT} if _present(HUBERT) else {}


# Values the same for every job are constants, not functions: Snakemake evaluates the params of
# every job at every start.
PREPROCESS = PreprocessParams.from_config(config["preprocess"])
# What slice_audio's params record of PREPROCESS: nothing at the settings that results made before
# they were recorded used (so those plan no job), else the settings that differ (a dict).
PREPROCESS_RECORD = {"settings": PREPROCESS.recorded()} if PREPROCESS.recorded() else {}


def preprocess_params(wildcards, output):
    """The slicing settings as the job's object. A param reading ``output`` is one Snakemake
    derives and does not record (it cannot record an object); PREPROCESS_RECORD records them.
    """
    return PREPROCESS


HUBERT_STANDIN = None if _present(HUBERT) else config["pretrained"]["hubert_standin"]


def dataset_warnings(wildcards):
    warnings = [] if _present(HUBERT) else [HUBERT_MISSING]
    if wildcards.experiment in UNTRAINABLE:
        warnings.append(f"not trained: {UNTRAINABLE[wildcards.experiment]}")
    return warnings


# --- pitch: the registry says which rule extracts each method and which weights it reads ---
# The extract rules write the same folders; each matches only the experiments of its methods.
F0_EXPERIMENTS = {
    extract_rule: _pattern_of(
        name
        for name, exp in EXPERIMENTS.items()
        if PITCH_METHODS[exp["f0_method"]].extract_rule == extract_rule
    )
    for extract_rule in {
        *PITCH_RULES.values(),
        *(m.extract_rule for m in PITCH_METHODS.values()),
    }
}
# Pitch rules matching no experiment are left out (extract_gpu.smk), as each would still cost a
# pattern match for every file Snakemake looks up (0.3 s at 10,000 sources).
USED_PITCH_RULES = {
    PITCH_METHODS[exp["f0_method"]].extract_rule for exp in EXPERIMENTS.values()
}
# Weights of the pitch methods in use, by method, and the speaker encoder's when the export is
# chosen by speaker similarity (else None); a missing file stops the run here, before any job.
try:
    PITCH_WEIGHTS = pitch_weight_paths(NEEDS, PITCH_METHODS, download=DOWNLOAD)
    TRAIN_SPEAKER_ENCODER = training_speaker_encoder(NEEDS, download=DOWNLOAD)
except FileNotFoundError as err:
    raise WorkflowError(str(err)) from None


# --- GPU work in batches: with gpu_batch_size (profiles/slurm sets it) the GPU steps run as one
# job per batch of an experiment's recordings (rules/extract_batch.smk), else one per recording.
GPU_BATCH_SIZE = config["gpu_batch_size"]
FEATURE_BATCHES = []
PITCH_BATCHES = []
for _name in EXPERIMENTS if GPU_BATCH_SIZE else ():
    _exp = EXPERIMENTS[_name]
    _batches = gpu_batches(
        _name,
        SOURCES[_name],
        GPU_BATCH_SIZE,
        dim=FEATURE_DIMS[_exp["version"]],
        resources=config["gpu_batch_resources"],
    )
    FEATURE_BATCHES += _batches
    if _exp["f0"] and PITCH_METHODS[_exp["f0_method"]].runs == ON_DEVICE:
        PITCH_BATCHES += _batches


def f0_weights_input(wildcards):
    """The weights of the experiment's pitch method (none for pm, harvest, dio), as an input."""
    method = f0_method(wildcards)
    return {"weights": PITCH_WEIGHTS[method]} if method in PITCH_WEIGHTS else {}


SPEAKER_ENCODER_WEIGHTS = speaker_encoder_path(config)
# export_model's choice: best_by joins it only when it is not the default, so existing
# results keep their params.
EXPORT_CHOICE = (
    f"best:{config['train']['best_by']}"
    if config["train"]["export"] == "best"
    and config["train"]["best_by"] != "val_loss_mel"
    else config["train"]["export"]
)


def convert_rmvpe_input(wildcards):
    """The weights of the conversion's pitch method when the experiment's model uses pitch.

    The key is "rmvpe" for every method: the name convert_recording takes the weights by.
    """
    method = config["convert"]["f0_method"]
    if not EXPERIMENTS[wildcards.experiment]["f0"] or method not in PITCH_WEIGHTS:
        return {}
    return {"rmvpe": PITCH_WEIGHTS[method]}


def job_device(resources):
    """Torch device of a job: a GPU only when its resources ask for one (the job function checks
    at run time that torch can use it)."""
    return device_for_gpus(resources.get("gpu", 0))


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


def _pretrained(wildcards, kind):
    """RVC's pretrained G or D for the experiment, if the model uses one and the file is there."""
    path = PRETRAINED_GD.get((wildcards.experiment, kind))
    return path if path and _present(path) else None


for (_name, _kind), _path in PRETRAINED_GD.items():
    if _kind == "generator" and not _present(_path):
        logger.warning(
            f"WARNING: no pretrained G {_path!r} for experiment {_name!r}: training starts "
            "from random weights"
        )


def _check_pretrained():
    """Say once what the pretrained files are; stop before any job on an unusable one."""
    checks = verify_config(config, needs=NEEDS)
    for need in NEEDS:
        if need.note:
            logger.info(f"pretrained: {need.note}")
    for check in checks:
        if check.status == "custom":
            logger.info(f"pretrained: {check.path}: custom file ({check.reason})")
    unusable = unusable_message(checks)
    if unusable:
        raise WorkflowError(unusable)
    unused = unused_with_tiny(config)
    if unused:
        logger.info(
            f"pretrained files are not used with model: tiny ({', '.join(unused)})"
        )
    write_experiment_checks(checks, NEEDS)


def _warm_start_folder(name):
    return warm_start_folder(EXPERIMENTS[name], EXPERIMENTS)


# Its rate, pitch setting and version must be the experiment's: checked now, before any job
# (the shapes come from the checkpoints' pickles, milliseconds; cluster jobs skip it).
for _name in EXPERIMENTS:
    if workflow.is_main_process and _warm_start_folder(_name):
        try:
            check_folder(
                _warm_start_folder(_name),
                sample_rate=SAMPLE_RATES[EXPERIMENTS[_name]["sample_rate"]],
                f0=EXPERIMENTS[_name]["f0"],
                version=EXPERIMENTS[_name]["version"],
            )
        except ValueError as err:
            raise WorkflowError(f"experiment {_name!r}: {err}") from None


# The checks that write into results/ (the pretrained report, the record of the recordings) come
# after every check that can stop the run, so a stopped run leaves no results folder behind. Only
# the main process looks and writes: jobs parse the workflow again.
if workflow.is_main_process:
    _check_pretrained()
    for _name in EXPERIMENTS:
        _age_replaced(_name)


def train_inputs(wildcards):
    """Pretrained G/D when used (so replacing them retrains), or the warm-start experiment, or
    the warm-start folder's G/D and config.json."""
    exp = EXPERIMENTS[wildcards.experiment]
    inputs = {
        kind: _pretrained(wildcards, kind)
        for kind in ("generator", "discriminator")
        if _pretrained(wildcards, kind)
    }
    if _warm_start_folder(wildcards.experiment):
        inputs.update(folder_files(_warm_start_folder(wildcards.experiment)))
    elif "warm_start" in exp:
        inputs["warm_start"] = TRAINED_JSON.format(experiment=exp["warm_start"])
    if TRAIN_SPEAKER_ENCODER:  # so that with download: true it is fetched first
        inputs["speaker_encoder"] = TRAIN_SPEAKER_ENCODER
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
        warm_start=experiment_dir(warm) if warm in EXPERIMENTS else warm,
        speaker_encoder=config["pretrained"].get("speaker_encoder"),
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
# The page table (REPORT_FILES) is in rules/report.smk, beside the rules that draw the pages;
# report_pages runs when the DAG is built, after every rule file is read.
REPORT_PAGE = experiment_path("{experiment}", "report", "{page}")


def report_file(page):
    """The path pattern of a page or figure of an experiment's report."""
    return REPORT_PAGE.replace("{page}", page)


def report_pages(name, stage):
    """The report files of one experiment's stage (no Pitch without f0, no Conversion without recordings)."""
    converting = bool(CONVERT[name])
    wanted = {
        "pitch": EXPERIMENTS[name]["f0"],
        "conversion": converting,
        "conversion_quality": converting,
    }
    return [
        REPORT_PAGE.format(experiment=name, page=file)
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
