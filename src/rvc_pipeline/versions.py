"""Algorithm versions of the stages, passed to rules as params.

Snakemake's code trigger does not see package modules: bump a stage's version when a change
there changes its outputs, and exactly that stage (and what depends on it) reruns. Kept in a
module without heavy imports, because the workflow reads it at every start. Pitch methods keep
theirs in the pitch registry (`rvc_pipeline.pitch.registry`).
"""

PREPROCESS_VERSION = "2"
FEATURES_VERSION = "1"
INDEX_VERSION = "2"
# Training (the trainer and the model code): a bump retrains every model from the start.
TRAIN_VERSION = "1"
