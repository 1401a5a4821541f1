"""rvc-pipeline: RVC training as a Snakemake workflow; all logic lives in this package.

Layers, lowest first. A module imports only from its own layer and the layers before it, at the
top of the file or inside a function alike (tests/test_layers.py reads this table and checks every
import). A row names flat modules and sub-packages; a sub-package's modules share its row unless
a row names the module itself. ::

    plumbing      versions layout atomic faults locks workers stopping logs progress lazy tables
                  overwrite config_errors config_doc workdir devices options run_summary prune
    audio/models  audio filters torch_files models demo
    preprocess    preprocess
    pitch         pitch
    features      features mute
    pretrained    pretrained
    quality       quality
    training      training
    index         index
    convert       convert
    checks        pretrained.verify
    reporting     reporting
    workflow      plan planning gpu_batches
    commands      doctor cli

Why this order: plumbing knows no stage (devices names the GPU rules; pitch.registry reads it).
The stages follow the pipeline, each reading what the earlier ones wrote (training reads
slicing's dataset report and length buckets, convert loads the exported model and the index),
never the reverse. The pretrained assets (manifest, needs, fetch) come after pitch, whose registry
says which weights each method needs. The voice-quality measures are built from the slicer and
the pitch tracker, and training measures its held-out renderings with them every saved epoch, so
they sit under training. Checking a pretrained file loads it with the loader of the stage that
uses it, so ``pretrained.verify`` sits above every stage; the report shows those checks; the
workflow's plan reads all of it; the commands call everything.
"""

import warnings

__version__ = "0.1.0"

# pyworld imports pkg_resources at import time; its deprecation notice says nothing about our use.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
