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
        standin=PLAN.hubert_standin,
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


rule measure_conversion:
    input:
        unpack(converted_pairs),
        filelist=FILELIST_TXT,
        trained=TRAINED_JSON,
    output:
        table=CONVERSION_QUALITY,
    log:
        "results/{experiment}/logs/measure_conversion.log",
    benchmark:
        "results/{experiment}/benchmarks/measure_conversion.tsv"
    params:
        transpose=config["convert"]["transpose"],
        weights=PLAN.speaker_encoder_weights,
    run:
        from rvc_pipeline.convert.quality import measure_conversions

        run_logged(
            log[0],
            measure_conversions,
            converted=input.converted,
            sources=input.sources,
            filelist=input.filelist,
            trained=input.trained,
            transpose=params.transpose,
            table=output.table,
            weights=params.weights,
        )
