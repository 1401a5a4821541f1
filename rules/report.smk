# The report of each experiment (`snakemake --report report.zip`): one page and one figure per
# stage, in the categories Data, Pitch, Training, Index and Conversion (subcategory: experiment).


rule plot_dataset:
    input:
        report=DATASET_REPORT,
        gt_wavs=report_gt_wavs,
    output:
        summary=report(
            report_file("data.html"),
            caption="../report/data.rst",
            category="Data",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "sources, totals, warnings"},
        ),
        figure=report(
            report_file("data.png"),
            caption="../report/data.rst",
            category="Data",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "segment histograms"},
        ),
    log:
        "results/{experiment}/logs/plot_dataset.log",
    localrule: True
    params:
        sources=source_files,
        sample_rate=sample_rate_hz,
    run:
        from rvc_pipeline.reporting.dataset import plot_dataset

        run_logged(
            log[0],
            plot_dataset,
            report=input.report,
            gt_wavs=input.gt_wavs,
            sources=params.sources,
            sample_rate=params.sample_rate,
            experiment=wildcards.experiment,
            summary=output.summary,
            figure=output.figure,
        )


rule plot_pitch:
    input:
        f0_hz=report_f0_hz,
    output:
        summary=report(
            report_file("pitch.html"),
            caption="../report/pitch.rst",
            category="Pitch",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "f0 per source"},
        ),
        figure=report(
            report_file("pitch.png"),
            caption="../report/pitch.rst",
            category="Pitch",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "f0 histograms"},
        ),
    log:
        "results/{experiment}/logs/plot_pitch.log",
    localrule: True
    params:
        method=f0_method,
    run:
        from rvc_pipeline.reporting.pitch import plot_pitch

        run_logged(
            log[0],
            plot_pitch,
            f0_hz=input.f0_hz,
            method=params.method,
            experiment=wildcards.experiment,
            summary=output.summary,
            figure=output.figure,
        )


rule plot_training:
    input:
        trained=TRAINED_JSON,
    output:
        summary=report(
            report_file("training.html"),
            caption="../report/training.rst",
            category="Training",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "epochs, stopping advice"},
        ),
        figure=report(
            report_file("training.png"),
            caption="../report/training.rst",
            category="Training",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "loss curves"},
        ),
    log:
        "results/{experiment}/logs/plot_training.log",
    localrule: True
    params:
        losses=LOSSES_TSV,
        epochs=config["train"]["epochs"],
        patience=config["train"]["patience"],
        export=config["train"]["export"],
    run:
        from rvc_pipeline.reporting.training import plot_training

        run_logged(
            log[0],
            plot_training,
            trained=input.trained,
            losses=params.losses,
            epochs=params.epochs,
            patience=params.patience,
            export=params.export,
            experiment=wildcards.experiment,
            summary=output.summary,
            figure=output.figure,
        )


rule render_validation_audio:
    input:
        trained=TRAINED_JSON,
        validation=VALIDATION_TXT,
        config=CONFIG_JSON,
    output:
        summary=report(
            report_file("validation.html"),
            caption="../report/validation.rst",
            category="Training",
            subcategory="{experiment}",
            labels={
                "experiment": "{experiment}",
                "page": "validation audio per saved epoch",
            },
        ),
        figure=report(
            report_file("validation.png"),
            caption="../report/validation.rst",
            category="Training",
            subcategory="{experiment}",
            labels={
                "experiment": "{experiment}",
                "page": "validation mel, last saved epoch",
            },
        ),
    log:
        "results/{experiment}/logs/render_validation_audio.log",
    localrule: True
    params:
        state_dir=state_folder,
    run:
        from rvc_pipeline.reporting.validation import render_validation_audio

        run_logged(
            log[0],
            render_validation_audio,
            validation=input.validation,
            config=input.config,
            state_dir=params.state_dir,
            experiment=wildcards.experiment,
            summary=output.summary,
            figure=output.figure,
        )


rule plot_index:
    input:
        index_dir=INDEX_DIR,
    output:
        summary=report(
            report_file("index.html"),
            caption="../report/index.rst",
            category="Index",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "rows, lists, build time"},
        ),
        figure=report(
            report_file("index.png"),
            caption="../report/index.rst",
            category="Index",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "IVF list sizes"},
        ),
    log:
        "results/{experiment}/logs/plot_index.log",
    localrule: True
    params:
        benchmark=INDEX_BENCHMARK,
    run:
        from rvc_pipeline.reporting.index import plot_index

        run_logged(
            log[0],
            plot_index,
            index_dir=input.index_dir,
            benchmark=params.benchmark,
            experiment=wildcards.experiment,
            summary=output.summary,
            figure=output.figure,
        )


rule render_conversion_audio:
    input:
        unpack(converted_pairs),
        config=CONFIG_JSON,
    output:
        pages=report(
            directory(report_file("conversion")),
            patterns=["{name}.html"],
            caption="../report/conversion.rst",
            category="Conversion",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "{name}"},
        ),
        figure=report(
            report_file("conversion.png"),
            caption="../report/conversion.rst",
            category="Conversion",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "mel, first recording"},
        ),
    log:
        "results/{experiment}/logs/render_conversion_audio.log",
    localrule: True
    run:
        from rvc_pipeline.reporting.conversion import render_conversion_audio

        run_logged(
            log[0],
            render_conversion_audio,
            converted=input.converted,
            sources=input.sources,
            config=input.config,
            experiment=wildcards.experiment,
            pages=output.pages,
            figure=output.figure,
        )


rule render_conversion_quality:
    input:
        table=CONVERSION_QUALITY,
    output:
        page=report(
            report_file("conversion_quality.html"),
            caption="../report/conversion_quality.rst",
            category="Conversion",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "page": "quality"},
        ),
    log:
        "results/{experiment}/logs/render_conversion_quality.log",
    localrule: True
    run:
        from rvc_pipeline.reporting.conversion import render_conversion_quality

        run_logged(
            log[0],
            render_conversion_quality,
            table=input.table,
            experiment=wildcards.experiment,
            page=output.page,
        )
