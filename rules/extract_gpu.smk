# The GPU steps, one job per recording (local runs; gpu_batch_size 0). Pitch of the methods that
# run on the job's device (GPU where given), which the registry names.
if "extract_f0_device" in PLAN.used_pitch_rules:

    rule extract_f0_device:
        input:
            unpack(f0_weights_input),
            wav_dir=SEGMENTS_16K,
        output:
            coarse_dir=directory(F0_COARSE_DIR),
            hz_dir=directory(F0_HZ_DIR),
        log:
            "results/{experiment}/logs/extract_f0_device/{source}.log",
        wildcard_constraints:
            experiment=PLAN.f0_experiments("extract_f0_device"),
        threads: segment_threads
        resources:
            gpu=0,
        params:
            method=device_method_record,
            algorithm=pitch_rule_version("extract_f0_device"),
        run:
            from rvc_pipeline.pitch.device import extract_device_dir

            run_logged(
                log[0],
                extract_device_dir,
                wav_dir=input.wav_dir,
                coarse_dir=output.coarse_dir,
                hz_dir=output.hz_dir,
                method_name=f0_method(wildcards),
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
        standin=PLAN.hubert_standin,
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
