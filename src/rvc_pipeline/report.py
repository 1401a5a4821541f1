"""Re-export of ``rvc_pipeline.preprocess.dataset_report.merge_reports`` under its old path.

The ``run:`` block of ``report_dataset`` (rules/preprocess.smk) imports it from here, and that
block's text must not change: Snakemake reruns a job whose rule code changed.
"""

from rvc_pipeline.preprocess.dataset_report import merge_reports as merge_reports
