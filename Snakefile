from snakemake.utils import min_version

from rvc_pipeline.layout import experiment_dir
from rvc_pipeline.plan import record_run
from rvc_pipeline.planning import collect_as_usual, collect_less_while_planning
from rvc_pipeline.stopping import forward_stop_signals

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/report_pages.smk"
include: "rules/preprocess.smk"
include: "rules/extract.smk"


# The GPU steps: a job per recording, or with gpu_batch_size (profiles/slurm) a job per batch.
if config["gpu_batch_size"]:

    include: "rules/extract_batch.smk"

else:

    include: "rules/extract_gpu.smk"


include: "rules/train.smk"
include: "rules/index.smk"
include: "rules/convert.smk"
include: "rules/report.smk"
include: "rules/targets.smk"


# Only when a needed pretrained file is missing: see rules/pretrained.smk.
if PLAN.fetchable:

    include: "rules/pretrained.smk"


rule all:
    default_target: True
    input:
        all_targets,
    localrule: True


rule preprocess:
    input:
        preprocess_targets,
    localrule: True


rule extract:
    input:
        extract_targets,
    localrule: True


rule train:
    input:
        train_targets,
    localrule: True


rule index:
    input:
        index_targets,
    localrule: True


rule pretrained:
    input:
        sorted(PLAN.fetchable),
    localrule: True


# Planning builds millions of objects: the collector runs less often until the jobs start.
collect_less_while_planning()


# Snakemake keeps only the last onstart handler, so this is the workflow's one: when jobs start
# (a dry run starts none), the collector as usual, and what the main process checked kept in
# results/. Snakemake alone waits for a running training on SIGTERM and does not stop it on a
# SIGINT sent to it alone: the signal goes on to the trainer, which stops within a step.
onstart:
    collect_as_usual()
    forward_stop_signals([experiment_dir(name) for name in TO_TRAIN])
    if STARTED:
        record_run(STARTED)


# One line per experiment when the run ends (trained, or not and why); a run that trained no
# model for an experiment with recordings exits non-zero.
onsuccess:
    summarize_run(failed=False)


onerror:
    summarize_run(failed=True)
