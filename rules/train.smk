rule write_filelist:
    input:
        unpack(filelist_inputs),
    output:
        filelist="results/{experiment}/filelist.txt",
        validation="results/{experiment}/validation.txt",
        config="results/{experiment}/config.json",
        report="results/{experiment}/reports/filelist.tsv",
    log:
        "results/{experiment}/logs/write_filelist.log",
    localrule: True
    params:
        model=config["train"]["model"],
        sample_rate=sample_rate_hz,
        version=version,
        spk_id=speaker_id,
        seed=config["train"]["seed"],
        precision=config["train"]["precision"],
        input_dir=input_folder,
        validation_share=config["train"]["validation_share"],
    run:
        from rvc_pipeline.training_inputs import prepare_training

        run_logged(
            log[0],
            prepare_training,
            filelist=output.filelist,
            validation=output.validation,
            config=output.config,
            report=output.report,
            source_reports=input.source_reports,
            input_dir=params.input_dir,
            gt_wavs=input.gt_wavs,
            features=input.features,
            f0_coarse=input.get("f0_coarse"),
            f0_hz=input.get("f0_hz"),
            mute_dir=input.mute_dir,
            model=params.model,
            sample_rate=params.sample_rate,
            version=params.version,
            spk_id=params.spk_id,
            seed=params.seed,
            precision=params.precision,
            validation_share=params.validation_share,
        )


rule train_model:
    input:
        unpack(train_inputs),
        filelist="results/{experiment}/filelist.txt",
        validation="results/{experiment}/validation.txt",
        config="results/{experiment}/config.json",
    output:
        trained="results/{experiment}/trained.json",
    log:
        "results/{experiment}/logs/train_model.log",
    benchmark:
        "results/{experiment}/benchmarks/train_model.tsv"
    conda:
        "../envs/rvc.yaml"
    threads: 2
    resources:
        gpu=0,
        runtime=1440,
        mem_mb=16000,
    params:
        state_dir=output_folder,
        options=train_options,
    script:
        "../scripts/train_model.py"


rule export_model:
    input:
        trained="results/{experiment}/trained.json",
        config="results/{experiment}/config.json",
    output:
        weights="results/{experiment}/weights/{experiment}.pth",
    log:
        "results/{experiment}/logs/export_model.log",
    params:
        f0=lookup(dpath="experiments/{experiment}/f0", within=config),
        version=version,
        choice=config["train"]["export"],
    run:
        from rvc_pipeline.export import export_experiment

        run_logged(
            log[0],
            export_experiment,
            trained=input.trained,
            config=input.config,
            weights=output.weights,
            f0=params.f0,
            version=params.version,
            choice=params.choice,
        )
