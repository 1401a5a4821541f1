"""Each report job imports only what it uses: a job's fresh Python pays for every module it loads."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO

HEAVY = ("torch", "faiss", "scipy", "av", "transformers", "soxr", "parselmouth", "pyworld")
# What each report job may load: the figure jobs matplotlib only (plus av to read the recordings'
# rates, faiss to read the index); the audio pages render the training's log-mel with torch and
# play Ogg/Opus through av.
EXPECTED = {
    "rvc_pipeline.reporting.dataset": ["av"],
    "rvc_pipeline.reporting.pitch": [],
    "rvc_pipeline.reporting.training": [],
    "rvc_pipeline.reporting.index": ["faiss"],
    "rvc_pipeline.reporting.validation": ["av", "torch"],
    "rvc_pipeline.reporting.conversion": ["av", "torch"],
}


def _heavy_modules_of(modules: list[str]) -> dict[str, list[str]]:
    """The heavy modules each of ``modules`` loads, each imported in a fresh Python (all at once)."""
    probes = {
        module: subprocess.Popen(
            [sys.executable, "-c", f"import json, sys, {module}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for module in modules
    }
    loaded = {}
    for module, probe in probes.items():
        out, err = probe.communicate(timeout=300)
        assert probe.returncode == 0, err
        loaded[module] = json.loads(out)
    return loaded


@pytest.mark.slow  # six fresh Pythons, each importing a report job's heavy modules
def test_each_report_job_loads_only_what_it_uses():
    jobs = set(re.findall(r"from (rvc_pipeline\.reporting\.\w+) import", (REPO / "rules/report.smk").read_text()))
    assert jobs == set(EXPECTED)  # a new report job says here what it may load
    assert _heavy_modules_of(sorted(jobs)) == EXPECTED
