"""Re-export of ``rvc_pipeline.training.inputs.prepare_training`` under its old path.

``scripts/write_filelist.py`` imports it from here, and that script must not change: Snakemake
reruns a ``script:`` rule whose script is newer than its outputs, which would retrain every model.
"""

from rvc_pipeline.training.inputs import prepare_training as prepare_training
