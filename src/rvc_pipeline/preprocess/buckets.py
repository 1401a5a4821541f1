"""Which clips training can use: RVC's length buckets, measured on the clip's file.

Light (standard library only), so that slicing, the filelist and the data loader share this one
definition: a recording is ``ok`` only if one of its segments falls in a bucket. It lives with
slicing, the first stage to judge a clip; training, a later stage, reads it from here.
"""

from __future__ import annotations

import os

BUCKET_BOUNDARIES = (100, 200, 300, 400, 500, 600, 700, 800, 900)
FLOAT_BYTES = 4  # segments are float32 WAVs


def hop_length(sample_rate: int) -> int:
    """RVC's hop at a model rate: 10 ms at 32, 40 and 48 kHz (config.json's data.hop_length)."""
    return sample_rate // 100


def estimated_frames(wav: str | os.PathLike, hop_length: int) -> int:
    """RVC's bucket length of a clip: file bytes // (3*hop), about 1.33x the frames of float32 wavs.

    Kept byte-based as in RVC so the same clips are bucketed, and skipped, as RVC would.
    """
    return os.path.getsize(wav) // (3 * hop_length)


def in_buckets(frames: int) -> bool:
    """Whether a clip of ``estimated_frames`` lies in a bucket (lo, hi]: training skips the others."""
    return BUCKET_BOUNDARIES[0] < frames <= BUCKET_BOUNDARIES[-1]


def shortest_trainable_s() -> float:
    """About the shortest float32 segment in a bucket, in seconds (the same at every rate)."""
    return BUCKET_BOUNDARIES[0] * 3 / FLOAT_BYTES / 100
