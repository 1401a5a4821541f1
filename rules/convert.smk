rule convert_audio:
    input:
        unpack(hubert_input),
        unpack(convert_rmvpe_input),
        model=EXPORTED_MODEL,
        index_dir=INDEX_DIR,
        audio=convert_source,
    output:
        converted=CONVERTED_WAV,
    log:
        "results/{experiment}/logs/convert_audio/{name}.log",
    benchmark:
        "results/{experiment}/benchmarks/convert_audio/{name}.tsv"
    resources:
        gpu=0,
    params:
        settings=convert_settings,
        standin=HUBERT_STANDIN,
        weights=lambda wildcards, input: input.get("weights"),
        rmvpe=lambda wildcards, input: input.get("rmvpe"),
    run:
        from rvc_pipeline.convert import convert_recording

        run_logged(
            log[0],
            convert_recording,
            model=input.model,
            index_dir=input.index_dir,
            audio=input.audio,
            converted=output.converted,
            settings=params.settings,
            standin=params.standin,
            weights=params.weights,
            rmvpe=params.rmvpe,
            device=job_device(resources),
        )
