"""The import path of the ``extract_f0`` rule's runner, kept because Snakemake compares a rule's
code to decide reruns: changing that rule's import would redo every existing pm/harvest/dio result.
The code is in `rvc_pipeline.pitch`."""

from rvc_pipeline.pitch.classic import extract_f0_dir

__all__ = ["extract_f0_dir"]
