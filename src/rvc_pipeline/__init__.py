"""rvc-pipeline: RVC training as a Snakemake workflow; all logic lives in this package."""

__version__ = "0.1.0"
