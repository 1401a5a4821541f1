"""``rvc-pipeline doctor``: is this machine ready to train? One table of checks (``checks``,
``cluster``) and, where a GPU is present, the GPU self-test (``selftest``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from rvc_pipeline.doctor.checks import (
    FAIL,
    OK,
    WARN,
    Check,
    check_decoders,
    check_gpus,
    check_pretrained,
    check_python,
    check_torch,
    gpus,
)
from rvc_pipeline.doctor.cluster import check_profile_gpus, check_slurm, read_profile
from rvc_pipeline.pretrained.needs import load_config

__all__ = [
    "FAIL",
    "OK",
    "WARN",
    "Check",
    "exit_code",
    "render_json",
    "render_table",
    "run_doctor",
    "selftest_rows",
]


def selftest_rows(config: dict, devices: list[str], reference: str = "cpu") -> list[Check]:
    """The self-test as rows: one per output compared between each device and ``reference``,
    then the first device's training steps per second."""
    from rvc_pipeline.doctor.selftest import ModelSetup, compare_devices, probes, steps_per_second

    setup = ModelSetup.from_config(config)
    rows = []
    for device, comparisons in compare_devices(probes(config, setup), devices, reference).items():
        prefix = "self-test" if len(devices) == 1 else f"self-test {device}"
        for comparison in comparisons:
            status = OK if comparison.passed else FAIL
            rows.append(Check(f"{prefix} {comparison.name}", status, f"{device} vs {reference}: {comparison.detail()}"))
    speed = steps_per_second(setup, devices[0])
    rows.append(
        Check(
            "self-test speed",
            OK,
            f"{speed:.2f} training steps/s on {devices[0]} ({setup.describe()}, "
            f"batch {setup.batch_size} × 3.7 s, {setup.precision})",
        )
    )
    return rows


def _guarded(name: str, check, *args) -> list[Check]:
    """A check's rows, or one FAIL row naming what went wrong when the check itself fails."""
    try:
        rows = check(*args)
    except ImportError as err:
        return [Check(name, WARN, f"not checked: {err}")]
    except Exception as err:  # noqa: BLE001 - the doctor reports every failure as a row
        return [Check(name, FAIL, f"{type(err).__name__}: {err}")]
    return rows if isinstance(rows, list) else [rows]


def run_doctor(
    configfile: str | os.PathLike = "config/config.yaml",
    profile: str | os.PathLike = "profiles/default",
    self_test: bool = True,
) -> list[Check]:
    """Every check of this machine for the config and profile, in the table's order."""
    rows = [*_guarded("Python", check_python), *_guarded("torch", check_torch)]
    try:
        found = gpus()
    except Exception:  # noqa: BLE001 - the torch row above already says what is wrong with torch
        found = []
    rows += _guarded("GPU", check_gpus, found)
    rows += _guarded("decoders", check_decoders)
    try:
        config = load_config(configfile)
    except (OSError, ValueError, yaml.YAMLError) as err:
        config = None
        rows.append(Check("config", FAIL, str(err)))
    if config is not None:
        rows += _guarded("pretrained", check_pretrained, config)
    try:
        read = read_profile(profile)
    except (OSError, ValueError) as err:
        rows.append(Check("profile", FAIL, str(err)))
    else:
        rows += _guarded("profile GPUs", check_profile_gpus, read, len(found))
        if read.slurm:
            rows += _guarded("SLURM", check_slurm, read)
    if self_test and found and config is not None:
        rows += _guarded("self-test", selftest_rows, config, [f"cuda:{gpu.index}" for gpu in found])
    return rows


def exit_code(rows: list[Check]) -> int:
    """1 when something needed is broken (a FAIL row), else 0; warnings pass."""
    return 1 if any(row.status == FAIL for row in rows) else 0


def render_table(rows: list[Check]) -> str:
    """The rows as a plain-text table: check, status, detail."""
    header = Check("check", "status", "detail")
    name_width = max(len(row.name) for row in [header, *rows])
    status_width = max(len(row.status) for row in [header, *rows])
    lines = [f"{row.name:<{name_width}}  {row.status:<{status_width}}  {row.detail}" for row in [header, *rows]]
    lines.insert(1, f"{'-' * name_width}  {'-' * status_width}  {'-' * 6}")
    return "\n".join(lines)


def render_json(rows: list[Check]) -> str:
    return json.dumps([{"check": r.name, "status": r.status, "detail": r.detail} for r in rows], indent=1)
