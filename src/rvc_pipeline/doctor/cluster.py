"""Checks of the Snakemake profile against this machine: does it give the GPU rules a GPU, and,
for the SLURM profile, are its site variables set and is SLURM reachable."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from rvc_pipeline.devices import GPU_RULES
from rvc_pipeline.doctor.checks import FAIL, OK, WARN, Check, run_tool, torch_build
from rvc_pipeline.pitch.registry import device_rules

SLURM_VARIABLES = ("RVC_SLURM_ACCOUNT", "RVC_SLURM_PARTITION", "RVC_SLURM_GPU_PARTITION")


@dataclass(frozen=True)
class Profile:
    """What the doctor reads of a Snakemake profile: its file, whether it submits to SLURM, the
    GPUs its ``set-resources`` give each rule, and the environment variables it names."""

    path: Path
    slurm: bool
    rule_gpus: dict[str, str]
    variables: tuple[str, ...]
    batched: tuple[str, ...] = ()  # GPU steps run in batches (their GPUs from gpu_batch_resources)


def _rule_gpus(set_resources: dict | list | None) -> dict[str, str]:
    """``{rule: gpu value}`` from ``set-resources`` as a mapping or as ``rule:gpu=N`` strings."""
    if isinstance(set_resources, dict):
        return {rule: str(res["gpu"]) for rule, res in set_resources.items() if isinstance(res, dict) and "gpu" in res}
    gpus = {}
    for item in set_resources or []:
        match = re.fullmatch(r"\s*(\w+):gpu=(\S+)\s*", str(item))
        if match:
            gpus[match[1]] = match[2]
    return gpus


def _batch_gpus(entries: list | None) -> dict[str, str]:
    """``{rule: gpu value}`` of the GPU steps when the profile's ``config:`` runs them in batches
    (``gpu_batch_size`` above 0): their jobs then ask for ``gpu_batch_resources``, not for the
    per-recording rules' ``set-resources``."""
    values = {}
    for entry in entries or []:
        key, _, value = str(entry).partition("=")
        values[key.strip()] = yaml.safe_load(value) if value else None
    if not isinstance(values.get("gpu_batch_size"), int) or values["gpu_batch_size"] <= 0:
        return {}
    resources = values.get("gpu_batch_resources")
    gpu = str(resources.get("gpu", 0)) if isinstance(resources, dict) else "0"
    return dict.fromkeys(("extract_features", *device_rules()), gpu)


def read_profile(path: str | os.PathLike) -> Profile:
    """A profile folder (its ``profile.yaml``, or ``config.yaml`` as older Snakemake names it) or file.

    Only ``set-resources`` counts for the GPU rules: they declare ``gpu=0`` themselves, which
    ``default-resources`` does not override; with batches in its ``config:``, the GPU steps take
    ``gpu_batch_resources`` instead.
    """
    path = Path(path)
    if path.is_dir():
        path = next(
            (path / name for name in ("profile.yaml", "config.yaml") if (path / name).is_file()), path / "profile.yaml"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no Snakemake profile there (give its folder, e.g. profiles/slurm)")
    text = path.read_text()
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a profile is a YAML mapping of Snakemake options")
    variables = tuple(sorted(set(re.findall(r"\$\{?([A-Za-z_]\w*)", text))))
    batched = _batch_gpus(values.get("config"))
    gpus = _rule_gpus(values.get("set-resources")) | batched
    return Profile(path, values.get("executor") == "slurm", gpus, variables, tuple(batched))


def _gives_gpu(value: str | None) -> bool:
    return value is not None and value.strip() not in ("0", "")


def fix_command(rules: list[str] | tuple[str, ...]) -> str:
    return "snakemake --set-resources " + " ".join(f"{rule}:gpu=1" for rule in rules)


def check_profile_gpus(profile: Profile, gpu_count: int) -> Check:
    """The usual cause of "it trained on the CPU" (a GPU here, none for train_model in the
    profile) and of GPU jobs failing at once (GPUs in the profile, a CPU-only torch)."""
    given = [rule for rule in GPU_RULES if _gives_gpu(profile.rule_gpus.get(rule))]
    missing = [rule for rule in GPU_RULES if rule not in given]
    name, where = "profile GPUs", f"{profile.path}: "
    build = torch_build()
    if given and build == "CPU only":
        return Check(
            name,
            FAIL,
            where + f"{', '.join(given)} get a GPU, but torch here is a CPU-only build: those jobs "
            "will stop. Install a CUDA build of torch, or run with "
            + " ".join(["--set-resources", *(f"{rule}:gpu=0" for rule in given)]),
        )
    if gpu_count and missing:
        per_rule = [rule for rule in missing if rule not in profile.batched]
        in_batches = [rule for rule in missing if rule in profile.batched]
        fixes = [f"Run: {fix_command(per_rule)}"] if per_rule else []
        if in_batches:
            fixes.append(f"Give gpu_batch_resources in the profile's config: a gpu (batches of {', '.join(in_batches)})")
        return Check(
            name,
            WARN,
            where + f"{gpu_count} GPU(s) here, but the profile gives {', '.join(missing)} none, so "
            f"they run on the CPU. {'. '.join(fixes)} (README: GPUs and clusters)",
        )
    if given and not gpu_count:
        return Check(
            name,
            OK,
            where + f"{', '.join(given)} get a GPU; none on this machine, so run the doctor on a "
            "GPU node too (e.g. srun --gpus=1 rvc-pipeline doctor)",
        )
    if given:
        return Check(name, OK, where + f"{', '.join(given)} get a GPU")
    return Check(name, OK, where + "gives no rule a GPU, and there is none here")


def check_slurm(profile: Profile) -> list[Check]:
    """The site variables the SLURM profile reads, and whether ``sinfo`` answers with their partitions."""
    rows = []
    for variable in sorted({*SLURM_VARIABLES, *profile.variables}):
        value = os.environ.get(variable, "")
        if value:
            rows.append(Check(f"${variable}", OK, value))
        else:
            rows.append(Check(f"${variable}", FAIL, f"not set; the SLURM profile reads it: export {variable}=…"))
    done = run_tool(["sinfo", "--noheader", "--format=%P"])
    if done is None or done.returncode != 0:
        why = "not installed here" if done is None else (done.stderr.strip().splitlines() or ["failed"])[-1]
        rows.append(Check("sinfo", FAIL, f"SLURM is not reachable ({why}): run from a login node of the cluster"))
        return rows
    partitions = {line.strip().rstrip("*") for line in done.stdout.splitlines() if line.strip()}
    unknown = [
        f"${v}={os.environ[v]}"
        for v in ("RVC_SLURM_PARTITION", "RVC_SLURM_GPU_PARTITION")
        if os.environ.get(v) and os.environ[v] not in partitions
    ]
    if unknown:
        rows.append(
            Check(
                "sinfo", FAIL, f"no such partition: {', '.join(unknown)} (sinfo lists {', '.join(sorted(partitions))})"
            )
        )
    else:
        rows.append(Check("sinfo", OK, f"partitions {', '.join(sorted(partitions))}"))
    return rows
