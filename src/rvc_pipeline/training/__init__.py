"""Training (rules/train.smk): the filelist and config.json a run trains on, the GAN loop and its
resumable checkpoint state, the held-out validation and its quality columns (``quality``), and the
small models it exports.

Nothing is imported here, so light modules (``checkpoint_pairs``, ``checkpoint_header``,
``history``) load without torch.
"""
