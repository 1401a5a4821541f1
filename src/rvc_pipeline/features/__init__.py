"""Content features (rules/extract.smk's ``extract_features``, RVC's step 2b): HuBERT or ContentVec
(``hubert``) run over each 16 kHz segment, one ``.npy`` per segment (``extract``).
"""

from rvc_pipeline.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {"extract_features_source": "extract"})
