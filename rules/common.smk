import os

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from rvc_pipeline.config_errors import config_error
from rvc_pipeline.devices import job_device as device_for_gpus
from rvc_pipeline import layout
from rvc_pipeline.layout import experiment_path, feature_folder, source_dir
from rvc_pipeline.logs import quiet_log_errors, run_logged
from rvc_pipeline.plan import PlanError, build_plan, names_pattern, start_run
from rvc_pipeline.run_summary import cancel_waiting_timers
from rvc_pipeline.versions import FEATURES_VERSION, INDEX_VERSION
from rvc_pipeline.workdir import unwritable_reason
from rvc_pipeline.workers import folder_width, worker_pool

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

# Rule patterns of an experiment's files: per-source stage folders (their names are RVC's, in
# rvc_pipeline.layout) and the files more than one rule or target names.
GT_WAVS_DIR = source_dir("{experiment}", layout.GT_WAVS, "{source}")
SEGMENTS_16K = source_dir("{experiment}", layout.WAVS_16K, "{source}")
F0_COARSE_DIR = source_dir("{experiment}", layout.F0_COARSE, "{source}")
F0_HZ_DIR = source_dir("{experiment}", layout.F0_HZ, "{source}")
FEATURES_DIR = source_dir("{experiment}", layout.FEATURES, "{source}")
SLICE_REPORT = experiment_path(
    "{experiment}", layout.REPORTS, "slice_audio", "{source}.tsv"
)
FEATURES_REPORT = experiment_path(
    "{experiment}", layout.REPORTS, "extract_features{dim}", "{source}.tsv"
)
DEMO_RECORDING_WAV = experiment_path(
    "{experiment}", layout.DEMO_RECORDINGS, f"{layout.DEMO_RECORDING}.wav"
)
DATASET_REPORT = experiment_path("{experiment}", "dataset_report.tsv")
SOURCES_TXT = experiment_path("{experiment}", "sources.txt")
FILELIST_TXT = experiment_path("{experiment}", "filelist.txt")
MUTE_DIR = experiment_path("{experiment}", "mute")
CONFIG_JSON = experiment_path("{experiment}", "config.json")
FILELIST_REPORT = experiment_path("{experiment}", layout.REPORTS, "filelist.tsv")
VALIDATION_TXT = experiment_path("{experiment}", "validation.txt")
TRAINED_JSON = experiment_path("{experiment}", "trained.json")
LOSSES_TSV = experiment_path("{experiment}", layout.LOSSES)
EXPORTED_MODEL = experiment_path("{experiment}", "weights", "{experiment}.pth")
INDEX_DIR = experiment_path("{experiment}", "index")
INDEX_BENCHMARK = experiment_path("{experiment}", "benchmarks", "train_index.tsv")
CONVERTED_WAV = experiment_path("{experiment}", "converted", "{name}.wav")
CONVERSION_QUALITY = experiment_path(
    "{experiment}", layout.REPORTS, "measure_conversion.tsv"
)

# What the run does (rvc_pipeline.plan): built without writing anything; the main process then
# checks it and says what it found (cluster jobs parse the workflow again and skip that).
try:
    PLAN = build_plan(config)
    STARTED = start_run(PLAN, SLICE_REPORT) if workflow.is_main_process else None
except PlanError as err:
    raise WorkflowError(str(err)) from None
for _line in STARTED.warnings if STARTED else ():
    logger.warning(f"WARNING: {_line}")
for _line in STARTED.notes if STARTED else ():
    logger.info(_line)
EXPERIMENTS = PLAN.experiments
# An experiment without recordings still gets its dataset_report.tsv but is left out of the
# train, index and convert targets; one another run trains now, of training and conversion.
BUSY = list(STARTED.busy) if STARTED else []
TO_TRAIN = [name for name in PLAN.trainable if name not in BUSY]


def summarize_run(failed):
    """The run's last lines, one per experiment (the Snakefile's onsuccess and onerror). A run
    whose jobs all went well fails here when an experiment it was to train has no model.
    """
    cancel_waiting_timers()
    dag = workflow.dag
    exports = [job for job in dag.jobs if job.rule.name == "export_model"]
    unfinished = [job for job in exports if dag.needrun(job) and not dag.finished(job)]
    outcomes = PLAN.outcomes(
        BUSY,
        requested={job.wildcards.experiment for job in exports},
        unfinished={job.wildcards.experiment for job in unfinished},
    )
    for outcome in outcomes:
        (logger.warning if outcome.missing_model else logger.info)(
            f"experiment {outcome.line}"
        )
    missing = [outcome.experiment for outcome in outcomes if outcome.missing_model]
    if missing and not failed:
        raise WorkflowError(
            f"no model for experiment(s) {', '.join(missing)}: the reasons are above"
        )


wildcard_constraints:
    experiment=names_pattern(EXPERIMENTS),
    source="[^/]+",
    dim="|".join(map(str, layout.FEATURE_DIMS.values())),
    name="[^/]+",


# ---- input functions and params: thin views of the plan -----------------------------------
def source_path(wildcards):
    return EXPERIMENTS[wildcards.experiment].sources[wildcards.source]


def sample_rate_hz(wildcards):
    return EXPERIMENTS[wildcards.experiment].sample_rate


def f0_method(wildcards):
    return EXPERIMENTS[wildcards.experiment].settings["f0_method"]


def version(wildcards):
    return EXPERIMENTS[wildcards.experiment].settings["version"]


def speaker_id(wildcards):
    return EXPERIMENTS[wildcards.experiment].settings["speaker_id"]


def input_folder(wildcards):
    return EXPERIMENTS[wildcards.experiment].settings.get("input_dir")


def f0_version(wildcards):
    """The algorithm version of the experiment's pitch method (the registry's)."""
    return EXPERIMENTS[wildcards.experiment].pitch.version


def pitch_rule_version(extract_rule):
    """The ``algorithm`` param of a pitch rule: a constant when its methods share one version (a
    callable param costs Snakemake a signature inspection per job), else `f0_version`.
    """
    return PLAN.pitch_rule_version(extract_rule) or f0_version


def device_method_record(wildcards):
    return PLAN.device_method_record(wildcards.experiment)


def segment_threads(wildcards, input):
    """Threads of a per-segment job: as many as its segments keep busy (``folder_width``),
    capped by Snakemake at --cores; evaluated again once its segments exist (1 before).
    """
    return folder_width(input.wav_dir)


def batch_threads(wildcards, input):
    """Threads of a GPU batch job: those of its recording with the most segments."""
    return max(map(folder_width, input.wav_dirs))


def pretrained_asset(wildcards):
    """The manifest key of the file fetch_pretrained makes."""
    return PLAN.fetchable[PLAN.fetch_folder + wildcards.pretrained_file]


def preprocess_params(wildcards, output):
    """The slicing settings as the job's object. A param reading ``output`` is one Snakemake
    derives and does not record (it cannot record an object); PLAN.preprocess_record records them.
    """
    return PLAN.preprocess


def hubert_input(wildcards):
    return PLAN.hubert_input()


def f0_weights_input(wildcards):
    return PLAN.pitch_input(wildcards.experiment)


def convert_rmvpe_input(wildcards):
    """The conversion's pitch weights; "rmvpe" is the name convert_recording takes them by."""
    weights = PLAN.pitch_input(wildcards.experiment, config["convert"]["f0_method"])
    return {"rmvpe": weights["weights"]} if weights else {}


def job_device(resources):
    """Torch device of a job: a GPU only when its resources ask for one."""
    return device_for_gpus(resources.get("gpu", 0))


def output_folder(wildcards, output):
    """The folder of a job's first output (the experiment folder, for training's state)."""
    return os.path.dirname(output[0])


def per_source(wildcards, folder):
    return EXPERIMENTS[wildcards.experiment].per_source(folder)


def source_reports(wildcards):
    return EXPERIMENTS[wildcards.experiment].per_source_file(SLICE_REPORT)


def source_names(wildcards):
    return sorted(EXPERIMENTS[wildcards.experiment].sources)


def excluded_entries(wildcards):
    return EXPERIMENTS[wildcards.experiment].excluded


def dataset_warnings(wildcards):
    return PLAN.dataset_warnings(wildcards.experiment)


def filelist_inputs(wildcards):
    return EXPERIMENTS[wildcards.experiment].filelist_inputs(MUTE_DIR, SLICE_REPORT)


def train_inputs(wildcards):
    return PLAN.train_inputs(wildcards.experiment, TRAINED_JSON)


def train_options(wildcards):
    return PLAN.train_options(wildcards.experiment)


def index_features(wildcards):
    return per_source(wildcards, feature_folder(version(wildcards)))


def convert_source(wildcards):
    return EXPERIMENTS[wildcards.experiment].convert[wildcards.name]


def convert_settings(wildcards):
    return {**config["convert"], "sid": speaker_id(wildcards)}
