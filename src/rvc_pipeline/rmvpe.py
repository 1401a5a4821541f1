"""The import path of the ``extract_f0_rmvpe`` rule's runner, kept because Snakemake compares a
rule's code to decide reruns: changing that rule's import would redo every existing rmvpe result.
The code is in `rvc_pipeline.pitch.rmvpe`."""

from rvc_pipeline.pitch.rmvpe import extract_rmvpe_dir

__all__ = ["extract_rmvpe_dir"]
