from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/preprocess.smk"
include: "rules/extract.smk"
include: "rules/train.smk"
include: "rules/index.smk"
include: "rules/convert.smk"
include: "rules/report.smk"


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
