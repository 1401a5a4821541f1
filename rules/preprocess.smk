rule synthesize_demo:
    output:
        "results/{experiment}/demo_recordings/demo_{k}.wav",
    log:
        "results/{experiment}/logs/synthesize_demo/demo_{k}.log",
    run:
        from rvc_pipeline.demo import write_demo_recording
        from rvc_pipeline.logs import rule_log

        with rule_log(log[0]):
            write_demo_recording(output[0], int(wildcards.k))


rule slice_audio:
    input:
        source=source_path,
    output:
        gt=directory("results/{experiment}/0_gt_wavs/{source}"),
        wav16k=directory("results/{experiment}/1_16k_wavs/{source}"),
        report="results/{experiment}/reports/slice_audio/{source}.tsv",
    log:
        "results/{experiment}/logs/slice_audio/{source}.log",
    benchmark:
        "results/{experiment}/benchmarks/slice_audio/{source}.tsv"
    params:
        sr=sample_rate_hz,
        preprocess=preprocess_params,
    run:
        from rvc_pipeline.logs import rule_log
        from rvc_pipeline.preprocess import PreprocessParams, slice_source

        with rule_log(log[0]):
            slice_source(
                input.source,
                wildcards.source,
                params.sr,
                output.gt,
                output.wav16k,
                output.report,
                PreprocessParams.from_config(params.preprocess),
            )


rule report_dataset:
    input:
        reports=source_reports,
    output:
        "results/{experiment}/dataset_report.tsv",
    log:
        "results/{experiment}/logs/report_dataset.log",
    params:
        ignored=ignored_entries,
        sources=source_names,
    localrule: True
    run:
        from rvc_pipeline.logs import rule_log
        from rvc_pipeline.report import report_experiment

        with rule_log(log[0]):
            report_experiment(input.reports, params.ignored, params.sources, output[0])
