"""train_model: resumable RVC training of one experiment (DDP when the job has several GPUs)."""

from rvc_pipeline.logs import run_script
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.training.run import train_experiment

run_script(
    snakemake.log[0],
    train_experiment,
    filelist=snakemake.input.filelist,
    validation=snakemake.input.validation,
    config=snakemake.input.config,
    trained=snakemake.output.trained,
    state_dir=snakemake.params.state_dir,
    options=TrainOptions.from_json(snakemake.params.options),
    gpus=int(snakemake.resources.get("gpu", 0)),
    threads=snakemake.threads,
    log_file=snakemake.log[0],
)
