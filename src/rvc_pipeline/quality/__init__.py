"""Measures of a voice: speaker similarity, pitch error and mel-cepstral distortion (pure functions)."""
