"""RMVPE pitch estimation (RVC's recommended f0 method) from RVC's ``rmvpe.pt``.

``network`` is the model, ``mel`` its input, ``decode`` salience -> Hz, ``estimator`` runs it on
audio (batches, long inputs), ``loader`` reads the weights once per process, ``extract`` writes a
source's pitch files.
"""

from rvc_pipeline.pitch.rmvpe.estimator import PitchEstimator
from rvc_pipeline.pitch.rmvpe.extract import extract_rmvpe_dir
from rvc_pipeline.pitch.rmvpe.loader import load_rmvpe

__all__ = ["PitchEstimator", "extract_rmvpe_dir", "load_rmvpe"]
