"""write_filelist: RVC's filelist.txt and config.json of one experiment, and its validation list."""

from rvc_pipeline.logs import run_script
from rvc_pipeline.training.inputs import prepare_training

run_script(
    snakemake.log[0],
    prepare_training,
    filelist=snakemake.output.filelist,
    validation=snakemake.output.validation,
    config=snakemake.output.config,
    report=snakemake.output.report,
    source_reports=snakemake.input.source_reports,
    input_dir=snakemake.params.input_dir,
    gt_wavs=snakemake.input.gt_wavs,
    features=snakemake.input.features,
    f0_coarse=snakemake.input.get("f0_coarse"),
    f0_hz=snakemake.input.get("f0_hz"),
    mute_dir=snakemake.input.mute_dir,
    model=snakemake.params.model,
    sample_rate=snakemake.params.sample_rate,
    version=snakemake.params.version,
    spk_id=snakemake.params.spk_id,
    seed=snakemake.params.seed,
    precision=snakemake.params.precision,
    validation_share=snakemake.params.validation_share,
)
