"""The retrieval index (rules/index.smk, RVC's "Train feature index"): an IVF-Flat faiss index
over the training features, under RVC's file names (``retrieval``).
"""

from rvc_pipeline.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {"train_index": "retrieval"})
