rule extract_f0:
    input:
        wav_dir=SEGMENTS_16K,
    output:
        coarse_dir=directory(F0_COARSE_DIR),
        hz_dir=directory(F0_HZ_DIR),
    log:
        "results/{experiment}/logs/extract_f0/{source}.log",
    wildcard_constraints:
        experiment=PLAN.f0_experiments("extract_f0"),
    threads: segment_threads
    params:
        method=f0_method,
        algorithm=pitch_rule_version("extract_f0"),
    run:
        from rvc_pipeline.pitch.classic import extract_f0_dir

        run_logged(
            log[0],
            extract_f0_dir,
            wav_dir=input.wav_dir,
            coarse_dir=output.coarse_dir,
            hz_dir=output.hz_dir,
            method=params.method,
            pool=worker_pool(workflow.cores),
            width=threads,
        )


# RVC's silence segment in every stage folder, its features from the experiment's HuBERT.
rule write_mute_assets:
    input:
        unpack(hubert_input),
    output:
        mute_dir=directory(MUTE_DIR),
    log:
        "results/{experiment}/logs/write_mute_assets.log",
    params:
        sample_rate=sample_rate_hz,
        version=version,
        standin=PLAN.hubert_standin,
    run:
        from rvc_pipeline.mute import write_mute_assets

        run_logged(
            log[0],
            write_mute_assets,
            mute_dir=output.mute_dir,
            sample_rate=params.sample_rate,
            version=params.version,
            weights=input.get("weights"),
            standin=params.standin,
        )
