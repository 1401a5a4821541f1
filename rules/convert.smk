rule convert_audio:
    input:
        unpack(hubert_input),
        unpack(convert_rmvpe_input),
        model="results/{experiment}/weights/{experiment}.pth",
        index_dir="results/{experiment}/index",
        audio=convert_source,
    output:
        converted="results/{experiment}/converted/{name}.wav",
    log:
        "results/{experiment}/logs/convert_audio/{name}.log",
    benchmark:
        "results/{experiment}/benchmarks/convert_audio/{name}.tsv"
    resources:
        gpu=0,
    params:
        settings=convert_settings,
        standin=HUBERT_STANDIN,
    run:
        from rvc_pipeline.convert import convert_recording

        run_logged(
            log[0],
            convert_recording,
            device=job_device(resources),
            **input,
            **params,
            **output,
        )
