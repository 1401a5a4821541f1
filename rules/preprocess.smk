rule synthesize_demo:
    output:
        recording=DEMO_RECORDING_WAV,
    log:
        "results/{experiment}/logs/synthesize_demo/demo_{k}.log",
    run:
        from rvc_pipeline.demo import write_demo_recording

        run_logged(
            log[0],
            write_demo_recording,
            recording=output.recording,
            index=int(wildcards.k),
        )


rule slice_audio:
    input:
        source=source_path,
    output:
        gt=directory(GT_WAVS_DIR),
        wav16k=directory(SEGMENTS_16K),
        report=SLICE_REPORT,
    log:
        "results/{experiment}/logs/slice_audio/{source}.log",
    params:
        **PLAN.preprocess_record,
        sr=sample_rate_hz,
        preprocess=preprocess_params,
    run:
        from rvc_pipeline.preprocess import slice_source

        run_logged(
            log[0],
            worker_pool(workflow.cores).call,
            slice_source,
            source=input.source,
            name=wildcards.source,
            sr=params.sr,
            gt=output.gt,
            wav16k=output.wav16k,
            report=output.report,
            preprocess=params.preprocess,
        )


# Outputs of recordings no longer in input_dir go before the dataset report is written; the
# job reruns when the set of sources changes.
rule prune_sources:
    output:
        sources=SOURCES_TXT,
    log:
        "results/{experiment}/logs/prune_sources.log",
    localrule: True
    params:
        experiment_dir=output_folder,
        sources=source_names,
    run:
        from rvc_pipeline.prune import prune_sources

        run_logged(
            log[0],
            prune_sources,
            experiment_dir=params.experiment_dir,
            sources=params.sources,
            record=output.sources,
        )


rule report_dataset:
    input:
        reports=source_reports,
        sources=SOURCES_TXT,
    output:
        report=DATASET_REPORT,
    log:
        "results/{experiment}/logs/report_dataset.log",
    localrule: True
    params:
        excluded=excluded_entries,
        warnings=dataset_warnings,
    run:
        from rvc_pipeline.preprocess.dataset_report import merge_reports

        run_logged(
            log[0],
            merge_reports,
            source_reports=input.reports,
            excluded=params.excluded,
            warnings=params.warnings,
            out_path=output.report,
        )
