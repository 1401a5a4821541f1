"""The plan of a run: what the workflow computes from the validated config before any job.

Which recordings each experiment trains on and converts, which experiments cannot train and why,
how pitch is routed (which rule, which weights), which pretrained files are used or fetched, the
GPU batches, warm starts and the export choice: one typed ``Plan`` built by ``build_plan`` from the
config and the files it names, tested without Snakemake. ``rules/common.smk`` keeps the path
patterns and thin input functions over it. Building the plan writes nothing: what a run records
(the pretrained checks, the recordings as seen) is written by ``record_run`` when jobs start.

Imported when Snakemake parses the workflow: standard library only (and the light modules below).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from rvc_pipeline.gpu_batches import GpuBatch, gpu_batches
from rvc_pipeline.layout import DEMO_RECORDINGS, F0_COARSE, F0_HZ, FEATURE_DIMS, GT_WAVS, REPORTS, SAMPLE_RATES
from rvc_pipeline.layout import experiment_dir, experiment_path, feature_folder, source_dir
from rvc_pipeline.locks import lock_holder
from rvc_pipeline.options import PreprocessParams, TrainOptions
from rvc_pipeline.pitch.registry import DEVICE, METHODS, PitchMethod
from rvc_pipeline.planning import convert_sources, scan_sources, untrainable_reason, unused_entries, warm_start_folder
from rvc_pipeline.preprocess.sources import Excluded
from rvc_pipeline.preprocess.source_changes import SEEN_FILE, SourcesSeen, replaced_sources, write_seen
from rvc_pipeline.pretrained.needs import GD_ROLES, Need, fetch_folder, needed_assets, pitch_weight_paths
from rvc_pipeline.pretrained.needs import speaker_encoder_path, training_speaker_encoder, unused_with_tiny
from rvc_pipeline.pretrained.verify import AssetCheck, unusable_message, verify_config, write_experiment_checks
from rvc_pipeline.run_summary import Outcome, experiment_outcomes
from rvc_pipeline.training.rvc_folder import check_folder, folder_files


class PlanError(ValueError):
    """The config cannot run as it is (a missing weights file, a warm start that does not fit):
    the message says why, before any job."""


def names_pattern(names: Any) -> str:
    """A wildcard pattern matching exactly these names (none: a pattern matching nothing)."""
    return "|".join(map(re.escape, names)) or "(?!)"


@dataclass(frozen=True)
class ExperimentPlan:
    """One experiment: its config entry, its recordings and what becomes of it."""

    name: str
    settings: Mapping[str, Any]  # the experiment's entry of the validated config
    sources: dict[str, str]  # recording name -> file
    excluded: Excluded  # entries of input_dir that are not used, with why
    convert: dict[str, str]  # name -> file to convert
    untrainable: str | None  # why it has no recordings, or None
    warm_start_folder: str | None  # an RVC folder it starts from, or None
    pretrained: dict[str, str] = field(default_factory=dict)  # role ("generator", …) -> path used

    @property
    def pitch(self) -> PitchMethod:
        return METHODS[self.settings["f0_method"]]

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATES[self.settings["sample_rate"]]

    @property
    def feature_dim(self) -> int:
        return FEATURE_DIMS[self.settings["version"]]

    @property
    def misconfigured(self) -> bool:
        """An ``input_dir`` that is a file: a mistake in the config, not an empty folder."""
        return self.untrainable is not None and os.path.isfile(self.settings.get("input_dir", ""))

    def per_source(self, folder: str) -> list[str]:
        """Each recording's folder of a stage (``folder``: its name, e.g. ``0_gt_wavs``)."""
        return [source_dir(self.name, folder, source) for source in self.sources]

    def per_source_file(self, pattern: str) -> list[str]:
        """``pattern`` (with ``{experiment}`` and ``{source}``) for each recording."""
        return [pattern.format(experiment=self.name, source=source) for source in self.sources]

    def filelist_inputs(self, mute_dir: str, slice_report: str) -> dict[str, Any]:
        """write_filelist's inputs: every recording's stage folders (f0 only for pitch models),
        the mute assets and the slicing reports."""
        inputs: dict[str, Any] = {
            "gt_wavs": self.per_source(GT_WAVS),
            "features": self.per_source(feature_folder(self.settings["version"])),
            "mute_dir": mute_dir.format(experiment=self.name),
            "source_reports": self.per_source_file(slice_report),
        }
        if self.settings["f0"]:
            inputs["f0_coarse"] = self.per_source(F0_COARSE)
            inputs["f0_hz"] = self.per_source(F0_HZ)
        return inputs


@dataclass(frozen=True)
class Plan:
    """What a run does, for every experiment of the config (see the module docstring)."""

    config: Mapping[str, Any]
    experiments: dict[str, ExperimentPlan]
    preprocess: PreprocessParams
    needs: tuple[Need, ...]
    fetchable: dict[str, str]  # pretrained path -> manifest key, for the files a run fetches
    hubert: str
    hubert_present: bool
    pitch_weights: dict[str, str]  # pitch method -> weights path
    train_speaker_encoder: str | None
    feature_batches: tuple[GpuBatch, ...]
    pitch_batches: tuple[GpuBatch, ...]
    warnings: tuple[str, ...]  # said when the run starts

    # ---- experiments
    @property
    def trainable(self) -> list[str]:
        return [name for name, exp in self.experiments.items() if exp.untrainable is None]

    @property
    def untrainable(self) -> dict[str, str]:
        return {name: exp.untrainable for name, exp in self.experiments.items() if exp.untrainable is not None}

    @property
    def misconfigured(self) -> dict[str, str]:
        return {name: exp.untrainable for name, exp in self.experiments.items() if exp.misconfigured}

    def outcomes(self, busy: Collection[str], requested: Collection[str], unfinished: Collection[str]) -> list[Outcome]:
        """One line per experiment when the run ends: its model, or why there is none (see
        ``run_summary.experiment_outcomes`` for ``busy``, ``requested`` and ``unfinished``)."""
        return experiment_outcomes(
            self.experiments,
            untrainable=self.untrainable,
            busy=busy,
            requested=requested,
            unfinished=unfinished,
            failures=self.misconfigured,
        )

    # ---- preprocessing
    @property
    def preprocess_record(self) -> dict[str, Any]:
        """What slice_audio's params record of the settings: nothing at the settings that results
        made before they were recorded used (so those plan no job), else the settings that differ."""
        recorded = self.preprocess.recorded()
        return {"settings": recorded} if recorded else {}

    # ---- pretrained files
    @property
    def download(self) -> bool:
        return self.config["pretrained"]["download"]

    def present(self, path: str) -> bool:
        return _present(path, self.download)

    @property
    def hubert_standin(self) -> str | None:
        return None if self.hubert_present else self.config["pretrained"]["hubert_standin"]

    @property
    def hubert_missing(self) -> str:
        return (
            f"HuBERT weights {self.hubert!r} not found: features come from a random stand-in and carry no "
            "content information; a voice trained on them will not be usable (see pretrained/README.md)"
        )

    @property
    def fetch_folder(self) -> str:
        """The folder the fetched files share: the constant start of the fetch rule's output (an
        output that starts with a wildcard is matched against every file Snakemake looks up)."""
        return fetch_folder(self.fetchable)

    @property
    def fetchable_pattern(self) -> str:
        return names_pattern(path[len(self.fetch_folder) :] for path in self.fetchable)

    @property
    def speaker_encoder_weights(self) -> str:
        return speaker_encoder_path(self.config)

    # ---- pitch routing
    def f0_experiments(self, extract_rule: str) -> str:
        """The pattern of the experiments whose pitch ``extract_rule`` extracts."""
        return names_pattern(name for name, exp in self.experiments.items() if exp.pitch.extract_rule == extract_rule)

    @property
    def used_pitch_rules(self) -> set[str]:
        """The pitch rules some experiment uses; the others are left out (each would cost a pattern
        match for every file Snakemake looks up: 0.3 s at 10,000 sources)."""
        return {exp.pitch.extract_rule for exp in self.experiments.values()}

    def device_method_record(self, name: str) -> str:
        """The ``method`` param of extract_f0_device: the experiment's pitch method, except for
        rmvpe, whose jobs had a rule of their own that recorded only its version. Snakemake
        compares the params as a set of values, so rmvpe's version given twice records what those
        jobs recorded and existing rmvpe results plan no job; a new rmvpe version still reruns them."""
        pitch = self.experiments[name].pitch
        return pitch.version if pitch.name == "rmvpe" else pitch.name

    @staticmethod
    def pitch_rule_version(extract_rule: str) -> str | None:
        """The one version the methods of ``extract_rule`` share, or None when they differ."""
        versions = {m.version for m in METHODS.values() if m.extract_rule == extract_rule}
        return versions.pop() if len(versions) == 1 else None

    def dataset_warnings(self, name: str) -> list[str]:
        """The warnings of an experiment's dataset report: HuBERT's stand-in, why it is not trained."""
        warnings = [] if self.hubert_present else [self.hubert_missing]
        untrainable = self.experiments[name].untrainable
        return warnings + ([f"not trained: {untrainable}"] if untrainable else [])

    def hubert_input(self) -> dict[str, str]:
        """The HuBERT weights as an input when present, so replacing them reruns extraction."""
        return {"weights": self.hubert} if self.hubert_present else {}

    def pitch_input(self, name: str, method: str | None = None) -> dict[str, str]:
        """The weights of experiment ``name``'s pitch method (or ``method``) as an input: none for
        pm, harvest, dio, nor for conversions of a model without pitch (``method`` given)."""
        if method is not None and not self.experiments[name].settings["f0"]:
            return {}
        method = method or self.experiments[name].pitch.name
        return {"weights": self.pitch_weights[method]} if method in self.pitch_weights else {}

    # ---- training and export
    def train_inputs(self, name: str, trained_json: str) -> dict[str, str]:
        """Pretrained G/D when used (so replacing them retrains), or the warm-start experiment's
        ``trained_json``, or the warm-start folder's G/D and config.json; the speaker encoder when
        training needs it (so that with ``download: true`` it is fetched first)."""
        exp = self.experiments[name]
        inputs = dict(exp.pretrained)
        if exp.warm_start_folder:
            inputs.update(folder_files(exp.warm_start_folder))
        elif "warm_start" in exp.settings:
            inputs["warm_start"] = trained_json.format(experiment=exp.settings["warm_start"])
        if self.train_speaker_encoder:
            inputs["speaker_encoder"] = self.train_speaker_encoder
        return inputs

    def train_options(self, name: str) -> str:
        """The experiment's TrainOptions as JSON (Snakemake's params trigger records strings)."""
        exp = self.experiments[name]
        warm = exp.settings.get("warm_start")
        return TrainOptions.from_config(
            self.config["train"],
            version=exp.settings["version"],
            f0=exp.settings["f0"],
            pretrained_g=exp.pretrained.get("generator"),
            pretrained_d=exp.pretrained.get("discriminator"),
            warm_start=experiment_dir(warm) if warm in self.experiments else warm,
            speaker_encoder=self.config["pretrained"].get("speaker_encoder"),
        ).to_json()

    @property
    def export_choice(self) -> str:
        """export_model's choice; ``best_by`` joins it only when it is not the default, so existing
        results keep their params."""
        train = self.config["train"]
        if train["export"] == "best" and train["best_by"] != "val_loss_mel":
            return f"best:{train['best_by']}"
        return train["export"]


def _present(path: str, download: bool) -> bool:
    """Whether ``path`` counts as there: with ``download: true`` the run fetches what is missing."""
    return download or os.path.exists(path)


def build_plan(config: Mapping[str, Any]) -> Plan:
    """The plan of ``config`` (validated, defaults filled). Reads the files it names; writes
    nothing. A config that cannot run raises ``PlanError``."""
    settings = config["experiments"]
    warnings: list[str] = []
    scanned = {}
    for name, exp in settings.items():
        demo_dir = experiment_path(name, DEMO_RECORDINGS)
        sources, excluded = scan_sources(exp, demo_dir)
        scanned[name] = (sources, excluded, convert_sources(exp, demo_dir))
    needs = needed_assets(config, converting=[name for name in settings if scanned[name][2]])
    download = config["pretrained"]["download"]
    experiments = {}
    for name, exp in settings.items():
        sources, excluded, convert = scanned[name]
        untrainable = None if sources else untrainable_reason(exp["input_dir"])
        pretrained = {
            need.role: need.path
            for need in needs
            if need.role in GD_ROLES and name in need.experiments and _present(need.path, download)
        }
        experiments[name] = ExperimentPlan(
            name, exp, sources, excluded, convert, untrainable, warm_start_folder(exp, settings), pretrained
        )
        unused = unused_entries(excluded)
        if unused:
            warnings.append(
                f"experiment {name!r}: {len(unused)} entries not used (reasons in "
                f"{experiment_path(name, 'dataset_report.tsv')}): {', '.join(map(repr, unused))}"
            )
        if untrainable:
            warnings.append(f"experiment {name!r} is not trained: {untrainable}")
    hubert = config["pretrained"]["hubert"]
    try:
        pitch_weights = pitch_weight_paths(needs, METHODS, download=download)
        speaker_encoder = training_speaker_encoder(needs, download=download)
    except FileNotFoundError as err:
        raise PlanError(str(err)) from None
    batch_size = config["gpu_batch_size"]
    feature_batches: list[GpuBatch] = []
    pitch_batches: list[GpuBatch] = []
    for name, exp in experiments.items() if batch_size else ():
        batches = gpu_batches(
            name, exp.sources, batch_size, dim=exp.feature_dim, resources=config["gpu_batch_resources"]
        )
        feature_batches += batches
        if exp.settings["f0"] and exp.pitch.runs == DEVICE:
            pitch_batches += batches
    return Plan(
        config=config,
        experiments=experiments,
        preprocess=PreprocessParams.from_config(config["preprocess"]),
        needs=tuple(needs),
        fetchable={need.path: need.asset.key for need in needs if need.asset and not os.path.exists(need.path)},
        hubert=hubert,
        hubert_present=_present(hubert, download),
        pitch_weights=pitch_weights,
        train_speaker_encoder=speaker_encoder,
        feature_batches=tuple(feature_batches),
        pitch_batches=tuple(pitch_batches),
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class Started:
    """What the main process found when it checked the plan, before any job: lines to say (the
    plan's warnings among them), the experiments another run trains now, and what ``record_run``
    keeps once jobs start."""

    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    busy: dict[str, str]  # experiment -> who holds its training lock
    checks: tuple[AssetCheck, ...]
    needs: tuple[Need, ...]
    seen: dict[str, SourcesSeen]  # experiment -> its recordings as seen now


def start_run(plan: Plan, slice_report: str) -> Started:
    """Check the plan as the main process does before any job: warm-start folders fit, the
    pretrained files are usable (one that is not raises ``PlanError``), who trains now; and age
    the slicing report (``slice_report``, with ``{experiment}`` and ``{source}``) of a recording
    replaced by a file not newer than its segments, so Snakemake reruns it."""
    warnings = list(plan.warnings) + ([] if plan.hubert_present else [plan.hubert_missing])
    busy = {name: holder for name in plan.trainable if (holder := lock_holder(experiment_dir(name)))}
    warnings += [
        f"experiment {name!r} is being trained by {holder}: this run leaves its training and conversions alone"
        for name, holder in busy.items()
    ]
    for need in plan.needs:
        if need.role == "generator" and not plan.present(need.path):
            warnings += [
                f"no pretrained G {need.path!r} for experiment {name!r}: training starts from random weights"
                for name in need.experiments
            ]
    for name, exp in plan.experiments.items():
        if exp.warm_start_folder:
            try:
                check_folder(
                    exp.warm_start_folder, sample_rate=exp.sample_rate, f0=exp.settings["f0"], version=exp.settings["version"]
                )
            except ValueError as err:
                raise PlanError(f"experiment {name!r}: {err}") from None
    checks = verify_config(dict(plan.config), needs=list(plan.needs))
    notes = [f"pretrained: {need.note}" for need in plan.needs if need.note]
    notes += [f"pretrained: {c.path}: custom file ({c.reason})" for c in checks if c.status == "custom"]
    unusable = unusable_message(checks)
    if unusable:
        raise PlanError(unusable)
    unused = unused_with_tiny(dict(plan.config))
    if unused:
        notes.append(f"pretrained files are not used with model: tiny ({', '.join(unused)})")
    seen = {}
    for name, exp in plan.experiments.items():
        said, seen[name] = replaced_sources(
            experiment_path(name, REPORTS, SEEN_FILE), exp.sources, slice_report.replace("{experiment}", name)
        )
        warnings += [f"experiment {name!r}: {message}" for message in said]
    return Started(tuple(warnings), tuple(notes), busy, tuple(checks), plan.needs, seen)


def record_run(started: Started) -> None:
    """What a run keeps in results/ once its jobs start: each experiment's pretrained checks (for
    its report) and its recordings as seen (to tell a replaced recording next time)."""
    write_experiment_checks(list(started.checks), list(started.needs))
    for name, seen in started.seen.items():
        write_seen(experiment_path(name, REPORTS, SEEN_FILE), seen)
