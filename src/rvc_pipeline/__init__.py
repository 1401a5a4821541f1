"""rvc-pipeline: RVC training as a Snakemake workflow; all logic lives in this package."""

import warnings

__version__ = "0.1.0"

# pyworld imports pkg_resources at import time; its deprecation notice says nothing about our use.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
