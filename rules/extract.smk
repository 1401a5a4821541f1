rule extract_f0:
    input:
        wav_dir=SEGMENTS_16K,
    output:
        coarse_dir=directory(F0_COARSE_DIR),
        hz_dir=directory(F0_HZ_DIR),
    log:
        "results/{experiment}/logs/extract_f0/{source}.log",
    wildcard_constraints:
        experiment=OTHER_F0_EXPERIMENTS,
    threads: segment_threads
    params:
        method=f0_method,
        algorithm=F0_VERSION,
    run:
        from rvc_pipeline.f0 import extract_f0_dir

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


rule extract_f0_rmvpe:
    input:
        weights=RMVPE,
        wav_dir=SEGMENTS_16K,
    output:
        coarse_dir=directory(F0_COARSE_DIR),
        hz_dir=directory(F0_HZ_DIR),
    log:
        "results/{experiment}/logs/extract_f0_rmvpe/{source}.log",
    wildcard_constraints:
        experiment=RMVPE_F0_EXPERIMENTS,
    threads: segment_threads
    resources:
        gpu=0,
    params:
        algorithm=RMVPE_VERSION,
    run:
        from rvc_pipeline.rmvpe import extract_rmvpe_dir

        run_logged(
            log[0],
            extract_rmvpe_dir,
            wav_dir=input.wav_dir,
            coarse_dir=output.coarse_dir,
            hz_dir=output.hz_dir,
            weights=input.weights,
            device=job_device(resources),
            threads=1,
            width=threads,
        )


rule extract_features:
    input:
        unpack(hubert_input),
        wav_dir=SEGMENTS_16K,
    output:
        out_dir=directory(FEATURES_DIR),
        report=FEATURES_REPORT,
    log:
        "results/{experiment}/logs/extract_features{dim}/{source}.log",
    threads: segment_threads
    resources:
        gpu=0,
    params:
        version=version,
        standin=HUBERT_STANDIN,
        algorithm=FEATURES_VERSION,
    run:
        from rvc_pipeline.features import extract_features_source

        run_logged(
            log[0],
            extract_features_source,
            wav_dir=input.wav_dir,
            out_dir=output.out_dir,
            report=output.report,
            weights=input.get("weights"),
            device=job_device(resources),
            version=params.version,
            standin=params.standin,
            threads=1,
            width=threads,
        )


# RVC's silence segment in every stage folder, its features from the experiment's HuBERT.
rule write_mute_assets:
    input:
        unpack(hubert_input),
    output:
        mute_dir=directory("results/{experiment}/mute"),
    log:
        "results/{experiment}/logs/write_mute_assets.log",
    params:
        sample_rate=sample_rate_hz,
        version=version,
        standin=HUBERT_STANDIN,
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
