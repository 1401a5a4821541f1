"""Preprocessing (rules/preprocess.smk, RVC's step 2a): which entries of ``input_dir`` are sources
(``sources``, ``source_changes``), slicing each into segments (``slicer``, ``segments``; ``buckets``:
which segments training can use) and the dataset report of what became of every entry
(``dataset_report``).
"""

from rvc_pipeline.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {"slice_source": "segments"})
