"""RMVPE pitch estimation (RVC's recommended f0 method) from RVC's ``rmvpe.pt``.

``network`` is the model, ``mel`` its input, ``decode`` salience -> Hz, ``estimator`` runs it on
audio (batches, long inputs), ``loader`` reads the weights once per process (the pitch registry's
device rule writes a source's files through ``pitch.device``).
"""

from rvc_pipeline.pitch.rmvpe.estimator import PitchEstimator
from rvc_pipeline.pitch.rmvpe.loader import load_rmvpe

__all__ = ["PitchEstimator", "load_rmvpe"]
