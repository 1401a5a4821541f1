"""Pretrained assets: the manifest, and fetching and checking the files it names."""
