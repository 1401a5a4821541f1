"""Pitch (f0) methods: the registry (`registry`, light: the workflow plans with it), RVC's file
layout (`files`: the 16 kHz reader, the coarse bins, a source's pitch files), pm/harvest/dio in
the CPU worker pool (`classic`), the methods that run on the job's device (`device`, `rmvpe`, …)."""
