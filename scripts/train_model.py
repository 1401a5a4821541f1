"""train_model: resumable RVC training of one experiment (DDP when the job has several GPUs)."""

from rvc_pipeline.experiment import train_experiment
from rvc_pipeline.logs import to_rule_log

to_rule_log(snakemake.log[0])
train_experiment(
    snakemake.input.filelist,
    snakemake.input.validation,
    snakemake.input.config,
    snakemake.output.trained,
    state_dir=snakemake.params.state_dir,
    options=snakemake.params.options,
    gpus=int(snakemake.resources.get("gpu", 0)),
    threads=snakemake.threads,
    log_file=snakemake.log[0],
)
