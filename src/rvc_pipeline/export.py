"""Re-export of ``rvc_pipeline.training.export.export_experiment`` under its old path.

The ``run:`` block of ``export_model`` (rules/train.smk) imports it from here, and that block's
text must not change: Snakemake reruns a job whose rule code changed.
"""

from rvc_pipeline.training.export import export_experiment as export_experiment
