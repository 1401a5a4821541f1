rule write_filelist:
    input:
        unpack(filelist_inputs),
    output:
        filelist=FILELIST_TXT,
        validation=VALIDATION_TXT,
        config=CONFIG_JSON,
        report=FILELIST_REPORT,
    log:
        "results/{experiment}/logs/write_filelist.log",
    localrule: True
    conda:
        "../envs/rvc.yaml"
    params:
        model=config["train"]["model"],
        sample_rate=sample_rate_hz,
        version=version,
        spk_id=speaker_id,
        seed=config["train"]["seed"],
        precision=config["train"]["precision"],
        input_dir=input_folder,
        validation_share=config["train"]["validation_share"],
    script:
        "../scripts/write_filelist.py"


rule train_model:
    input:
        unpack(train_inputs),
        filelist=FILELIST_TXT,
        validation=VALIDATION_TXT,
        config=CONFIG_JSON,
    output:
        trained=TRAINED_JSON,
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
        trained=TRAINED_JSON,
        config=CONFIG_JSON,
    output:
        weights=EXPORTED_MODEL,
    log:
        "results/{experiment}/logs/export_model.log",
    params:
        f0=lookup(dpath="experiments/{experiment}/f0", within=config),
        version=version,
        choice=PLAN.export_choice,
    run:
        from rvc_pipeline.training.export import export_experiment

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
