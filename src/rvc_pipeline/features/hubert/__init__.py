"""HuBERT / ContentVec content features (docs/formats.md) on transformers' HubertModel, without fairseq.

Weights come in one of two formats:

* RVC's ``hubert_base.pt`` (really ContentVec, 500-class legacy): a fairseq checkpoint, read
  with ``torch.load(weights_only=True)`` and its pickled config objects kept inert
  (``safe_load``), its keys renamed onto ``HubertModel`` (``fairseq``).
* A Hugging Face folder: ``config.json`` (a ``HubertConfig``) plus ``model.safetensors`` (or
  ``pytorch_model.bin``) holding the ``HubertModel`` keys and ``final_proj.weight`` / ``.bias``
  beside them, as written by ``HubertFeatureModel.save_pretrained`` (the layout of the common
  ContentVec conversions, a HubertModel subclass with a ``final_proj``).

``model`` is the feature model, ``standin`` the seeded random models used without weights
(features then carry no content), ``loader`` loads once per process
(``read_hubert``, uncached, is also what ``pretrained verify`` checks a file with).
"""

from rvc_pipeline.features.hubert.fairseq import hubert_config, load_fairseq
from rvc_pipeline.features.hubert.loader import load_hf_folder, load_hubert, read_hubert
from rvc_pipeline.features.hubert.model import MIN_SAMPLES, RVC_LAYERS, HubertFeatureModel
from rvc_pipeline.features.hubert.safe_load import UnsafeCheckpointError
from rvc_pipeline.features.hubert.standin import standin_model

__all__ = [
    "MIN_SAMPLES",
    "RVC_LAYERS",
    "HubertFeatureModel",
    "UnsafeCheckpointError",
    "hubert_config",
    "load_fairseq",
    "load_hf_folder",
    "load_hubert",
    "read_hubert",
    "standin_model",
]
