"""Re-export of ``rvc_pipeline.training.run.train_experiment`` under its old path.

``scripts/train_model.py`` imports it from here, and that script must not change: Snakemake reruns
a ``script:`` rule whose script is newer than its outputs, which would retrain every model.
"""

from rvc_pipeline.training.run import train_experiment as train_experiment
