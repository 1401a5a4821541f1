"""Every setting that changes a job's outputs is in the params Snakemake records.

Snakemake's params trigger compares the ``repr`` of each param of the types it can record
(numbers, strings, lists, dicts of those) and silently drops any other value: a setting passed as
an object never reruns anything.
"""

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from conftest import REPO, copy_run

pytestmark = pytest.mark.slow  # every test here runs Snakemake

# Plans the default target in-process and prints, per rule, the type names of the params of its
# jobs that Snakemake would not record (params read from input/output are derived: not recorded
# by design, their changes show as input changes).
UNRECORDED_PARAMS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from snakemake.api import SnakemakeApi
    from snakemake.persistence import UNREPRESENTABLE
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

    repo, workdir = Path(sys.argv[1]), Path(sys.argv[2])
    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            snakefile=repo / "Snakefile",
            workdir=workdir,
            config_settings=ConfigSettings(configfiles=[workdir / "config.yaml"]),
        )
        workflow_api.dag(DAGSettings()).execute_workflow(pseudo_executor="dryrun")
        workflow = workflow_api._workflow
        serialize = workflow.persistence._serialize_param
        dropped, jobs = {}, 0
        for job in workflow.dag.jobs:
            jobs += 1
            for value in job.non_derived_params:
                if serialize(value) is UNREPRESENTABLE:
                    dropped.setdefault(job.rule.name, set()).add(type(value).__name__)
    print(json.dumps({"jobs": jobs, "dropped": {k: sorted(v) for k, v in dropped.items()}}))
    """
)


def unrecorded_params(workdir, config):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-c", UNRECORDED_PARAMS, str(REPO), str(workdir)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), id="demo"),
        pytest.param(
            {
                "experiments": {
                    "a": {"demo": 2, "sample_rate": "48k", "version": "v2", "f0_method": "harvest"},
                    "b": {"demo": 1, "f0": False, "warm_start": "a"},
                },
                "preprocess": {"per": 3.0, "slicer": {"hop_ms": 10}},
                "train": {"model": "tiny", "export": "best", "checkpointing": True},
                "convert": {"transpose": 3},
            },
            id="settings",
        ),
    ],
)
def test_snakemake_records_every_param_of_every_job(tmp_path, config):
    planned = unrecorded_params(tmp_path, config)
    assert planned["jobs"] > 20
    assert planned["dropped"] == {}


# A value other than the default for every key of the schema's preprocess section.
CHANGED = {
    "per": 3.0,
    "overlap": 0.2,
    "highpass": "filtfilt",
    "max_peak": 2.0,
    "strict": True,
    "downmix": "average",
    "slicer.threshold_db": -40,
    "slicer.min_length_ms": 1000,
    "slicer.min_interval_ms": 300,
    "slicer.hop_ms": 10,
    "slicer.max_sil_kept_ms": 400,
}


def preprocess_keys():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    section = schema["properties"]["preprocess"]["properties"]
    nested = section.pop("slicer")["properties"]
    return set(section) | {f"slicer.{key}" for key in nested}


def nested(key, value):
    head, _, rest = key.partition(".")
    return {head: {rest: value}} if rest else {head: value}


@pytest.fixture
def sliced(indexed_run, tmp_path):
    """Two short recordings sliced at the default settings (and indexed): a copy of the shared
    run, since these tests rewrite its config."""
    return copy_run(indexed_run, tmp_path)


def test_changed_settings_are_the_schemas_keys():
    assert set(CHANGED) == preprocess_keys()


def test_default_settings_written_out_plan_no_job(sliced):
    defaults = {
        "per": 3.7,
        "overlap": 0.3,
        "highpass": "lfilter",
        "max_peak": 2.5,
        "strict": False,
        "downmix": "auto",
        "slicer": {"threshold_db": -42, "min_length_ms": 1500, "min_interval_ms": 400, "hop_ms": 15, "max_sil_kept_ms": 500},
    }
    sliced.write_config({"experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k"}}, "preprocess": defaults})
    assert sliced.dry_run_jobs("preprocess") == []


@pytest.mark.parametrize("key", sorted(CHANGED))
def test_a_changed_preprocess_setting_reruns_the_slicing(sliced, key):
    sliced.write_config(
        {"experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k"}}, "preprocess": nested(key, CHANGED[key])}
    )
    jobs = sliced.dry_run_jobs("preprocess")
    assert sorted(w for rule, w in jobs if rule == "slice_audio") == [
        "experiment=exp, source=alpha",
        "experiment=exp, source=beta",
    ]
    # What depends on the segments plans again too: the dataset report of the experiment.
    assert "report_dataset" in {rule for rule, _ in jobs}
