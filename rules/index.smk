rule train_index:
    input:
        features=index_features,
    output:
        out_dir=directory(INDEX_DIR),
    log:
        "results/{experiment}/logs/train_index.log",
    benchmark:
        INDEX_BENCHMARK
    threads: 2
    params:
        version=version,
        seed=config["train"]["seed"],
        algorithm=INDEX_VERSION,
    run:
        from rvc_pipeline.index import train_index

        run_logged(
            log[0],
            train_index,
            features=input.features,
            out_dir=output.out_dir,
            experiment=wildcards.experiment,
            version=params.version,
            seed=params.seed,
            threads=threads,
        )
