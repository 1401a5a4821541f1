# The GPU steps in batches (gpu_batch_size > 0, as profiles/slurm sets it): one job per batch of
# an experiment's recordings (rvc_pipeline.plan), which loads the model once and writes each
# recording's own outputs and log, the files the per-recording rules (extract_gpu.smk) write.
for _batch in PLAN.feature_batches:

    rule:
        name:
            _batch.rule("extract_features")
        input:
            unpack(hubert_input),
            wav_dirs=_batch.paths(SEGMENTS_16K),
        output:
            out_dirs=[directory(path) for path in _batch.paths(FEATURES_DIR)],
            reports=_batch.paths(FEATURES_REPORT),
        log:
            _batch.paths("results/{experiment}/logs/extract_features{dim}/{source}.log"),
        benchmark:
            _batch.path(
                "results/{experiment}/benchmarks/extract_features{dim}/batch_{number}.tsv"
            )
        threads: batch_threads
        resources:
            **_batch.job_resources(),
        params:
            version=EXPERIMENTS[_batch.experiment].settings["version"],
            standin=PLAN.hubert_standin,
            algorithm=FEATURES_VERSION,
        run:
            from rvc_pipeline.features import extract_features_source
            from rvc_pipeline.gpu_batches import run_each

            run_each(
                extract_features_source,
                logs=log,
                per_member={
                    "wav_dir": input.wav_dirs,
                    "out_dir": output.out_dirs,
                    "report": output.reports,
                },
                weights=input.get("weights"),
                device=job_device(resources),
                version=params.version,
                standin=params.standin,
                threads=1,
                width=threads,
            )


# Pitch of the experiments whose method runs on the device (the registry's DEVICE methods).
for _batch in PLAN.pitch_batches:

    rule:
        name:
            _batch.rule("extract_f0_device")
        input:
            weights=PLAN.pitch_weights[EXPERIMENTS[_batch.experiment].pitch.name],
            wav_dirs=_batch.paths(SEGMENTS_16K),
        output:
            coarse_dirs=[directory(path) for path in _batch.paths(F0_COARSE_DIR)],
            hz_dirs=[directory(path) for path in _batch.paths(F0_HZ_DIR)],
        log:
            _batch.paths("results/{experiment}/logs/extract_f0_device/{source}.log"),
        benchmark:
            _batch.path(
                "results/{experiment}/benchmarks/extract_f0_device/batch_{number}.tsv"
            )
        threads: batch_threads
        resources:
            **_batch.job_resources(),
        params:
            method=EXPERIMENTS[_batch.experiment].pitch.name,
            algorithm=EXPERIMENTS[_batch.experiment].pitch.version,
        run:
            from rvc_pipeline.gpu_batches import device_pitch, run_each

            run_each(
                device_pitch(params.method),
                logs=log,
                per_member={
                    "wav_dir": input.wav_dirs,
                    "coarse_dir": output.coarse_dirs,
                    "hz_dir": output.hz_dirs,
                },
                weights=input.weights,
                device=job_device(resources),
                threads=1,
                width=threads,
            )
