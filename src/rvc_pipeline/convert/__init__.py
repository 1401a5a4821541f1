"""Conversion (rules/convert.smk, RVC's inference tab): a recording through an exported model and
its index (``pipeline``), how the converted recordings sound (``quality``, rule
measure_conversion), and RVC's checkpoint tab on model files (``voice_models``, with its command
line in ``model_commands``).
"""

from rvc_pipeline.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {"convert_recording": "pipeline"})
