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
        sr=sample_rate_hz,
        preprocess=PREPROCESS,
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


rule report_dataset:
    input:
        reports=source_reports,
    output:
        report=DATASET_REPORT,
    log:
        "results/{experiment}/logs/report_dataset.log",
    localrule: True
    params:
        excluded=excluded_entries,
        sources=source_names,
        warnings=dataset_warnings,
    run:
        from rvc_pipeline.report import report_experiment

        run_logged(
            log[0],
            report_experiment,
            reports=input.reports,
            excluded=params.excluded,
            sources=params.sources,
            report=output.report,
            warnings=params.warnings,
        )
