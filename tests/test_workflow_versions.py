"""Reruns follow the declared versions, not the text of the code.

A stage's algorithm version (``rvc_pipeline.versions``) reruns exactly that stage's jobs and what
depends on them; an edit of a rule's ``run:`` text or of a script plans nothing (the profiles leave
Snakemake's ``code`` trigger out).
"""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import INDEXED_SOURCES, REPO

pytestmark = pytest.mark.slow  # every test here runs Snakemake


def planned_with(wf, code, *args):
    """The jobs of ``snakemake -n ARGS`` in a process that first runs ``code`` (e.g. a bumped version)."""
    command = wf.command("-n", *args)
    script = f"{code}\nimport sys\nfrom snakemake.cli import main\nsys.argv = {['snakemake', *command[3:]]!r}\nmain()"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    jobs, rule = [], None
    for line in result.stdout.splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")) and stripped.endswith(":"):
            rule = stripped.split()[1].rstrip(":")
            jobs.append(rule)
    return sorted(jobs)


def test_a_features_version_bump_plans_the_feature_jobs_and_what_depends_on_them(indexed_run):
    jobs = planned_with(indexed_run, "import rvc_pipeline.versions as v; v.FEATURES_VERSION = 'bumped'", "index")
    assert jobs.count("extract_features") == len(INDEXED_SOURCES)
    assert "train_index" in jobs
    assert not {"slice_audio", "extract_f0", "synthesize_demo"} & set(jobs)
    # and nothing else than the features, the index and the report pages drawn from them
    assert set(jobs) <= {"extract_features", "train_index", "plot_index", "index"}


def test_the_same_version_plans_nothing(indexed_run):
    assert planned_with(indexed_run, "import rvc_pipeline.versions", "index") == []


def test_editing_run_text_and_scripts_plans_nothing(indexed_run, tmp_path):
    """A copy of the workflow whose rules' run: blocks and scripts are edited (text only), newer
    than every output: nothing reruns."""
    copy = tmp_path / "workflow"
    copy.mkdir()
    for name in ("Snakefile", "rules", "scripts", "profiles", "config", "report", "envs"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, copy / name)
    for smk in (copy / "rules").glob("*.smk"):
        smk.write_text(re.sub(r"(?m)^( +)run_logged\(", r"\1# edited\n\1run_logged(", smk.read_text()))
    for script in (copy / "scripts").glob("*.py"):
        script.write_text(script.read_text() + "# edited\n")
    later = time.time() + 10
    for path in [*(copy / "scripts").glob("*.py"), *(copy / "rules").glob("*.smk")]:
        os.utime(path, (later, later))
    assert "# edited" in (copy / "rules" / "extract.smk").read_text()
    command = indexed_run.command("-n", "index")
    command[command.index("--snakefile") + 1] = str(copy / "Snakefile")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Nothing to be done" in result.stdout + result.stderr
