"""tools/upgrade_check.py reads the jobs of a dry run (the full check is `make upgrade-check`)."""

import importlib.util
import sys

import pytest
from conftest import REPO

spec = importlib.util.spec_from_file_location("upgrade_check", REPO / "tools" / "upgrade_check.py")
upgrade_check = importlib.util.module_from_spec(spec)
sys.modules["upgrade_check"] = upgrade_check  # its dataclass looks its module up there
spec.loader.exec_module(upgrade_check)

# Snakemake 9's dry-run output (abridged), with a group job's member indented as on SLURM.
DRY_RUN = """\
Building DAG of jobs...
Job stats:
job                 count
----------------  -------
extract_features        2
all                     1
total                   3

[Mon Dec  7 02:55:37 2026]
rule extract_features:
    input: results/demo/1_16k_wavs/demo_0
    jobid: 4
    reason: Params have changed since last execution: Union of exclusive params before and now across all output: before: 1 now: 9
    wildcards: experiment=demo, source=demo_0
    resources: tmpdir=/tmp
group job cpu_0 (jobs in lexicogr. order):
    rule extract_features:
        jobid: 5
        reason: Missing output files: results/demo/3_feature256/demo_1
        wildcards: experiment=demo, source=demo_1
localrule all:
    input: results/demo/weights/demo.pth
    jobid: 0
    reason: Input files updated by another job: results/demo/3_feature256/demo_0
Job stats:
job                 count
----------------  -------
extract_features        2
all                     1
total                   3
"""


def test_jobs_with_wildcards_and_reasons_group_members_included():
    jobs = upgrade_check.planned_jobs(DRY_RUN)
    assert [(job.rule, job.wildcards) for job in jobs] == [
        ("extract_features", "experiment=demo, source=demo_0"),
        ("extract_features", "experiment=demo, source=demo_1"),
        ("all", ""),
    ]
    assert jobs[0].reason.startswith("Params have changed since last execution") and jobs[0].reason.endswith("now: 9")
    assert jobs[1].reason == "Missing output files: results/demo/3_feature256/demo_1"


def test_nothing_to_be_done_is_no_job():
    out = "Building DAG of jobs...\nNothing to be done (all requested files are present and up to date).\n"
    assert upgrade_check.planned_jobs(out) == []


@pytest.mark.parametrize(
    "changed",
    [DRY_RUN.replace("rule extract_features:", "job extract_features:"), DRY_RUN.replace("total                   3", "")],
    ids=["unread job headers", "no job stats"],
)
def test_output_it_cannot_read_is_an_error_not_a_pass(changed):
    with pytest.raises(ValueError, match="jobs in a dry run whose job stats say"):
        upgrade_check.planned_jobs(changed)
