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
        from rvc_pipeline.filelist import write_mute_assets

        run_logged(
            log[0],
            write_mute_assets,
            weights=input.get("weights"),
            **output,
            **params,
        )


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
        from rvc_pipeline.experiment import prepare_training

        run_logged(log[0], prepare_training, **input, **output, **params)


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
        from rvc_pipeline.experiment import export_experiment

        run_logged(log[0], export_experiment, **input, **output, **params)
