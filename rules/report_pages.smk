# The report's pages: which ones each stage has (the targets ask for them) and the inputs of the
# rules that draw them (rules/report.smk) and of measure_conversion (rules/convert.smk).


# Each stage has pages results/{experiment}/report/{page}.html and a figure {page}.png; a stage's
# target builds them, since the report only shows outputs of jobs that ran. Conversion has a
# folder of pages, one per recording.
REPORT_FILES = {
    "preprocess": ["data.html", "data.png"],
    "extract": ["pitch.html", "pitch.png"],
    "train": ["training.html", "training.png", "validation.html", "validation.png"],
    "index": ["index.html", "index.png"],
    "convert": ["conversion", "conversion.png", "conversion_quality.html"],
}


REPORT_PAGE = experiment_path("{experiment}", "report", "{page}")


def report_file(page):
    """The path pattern of a page or figure of an experiment's report."""
    return REPORT_PAGE.replace("{page}", page)


def report_pages(name, stage):
    """The report files of one experiment's stage (no Pitch without f0, no Conversion without recordings)."""
    converting = bool(EXPERIMENTS[name].convert)
    wanted = {
        "pitch": EXPERIMENTS[name].settings["f0"],
        "conversion": converting,
        "conversion_quality": converting,
    }
    return [
        REPORT_PAGE.format(experiment=name, page=file)
        for file in REPORT_FILES[stage]
        if wanted.get(file.split(".")[0], True)
    ]


def report_gt_wavs(wildcards):
    return per_source(wildcards, layout.GT_WAVS)


def report_f0_hz(wildcards):
    return per_source(wildcards, layout.F0_HZ)


def source_files(wildcards):
    return EXPERIMENTS[wildcards.experiment].sources


def state_folder(wildcards, input):
    """The experiment folder (training state) of a job whose first input is its trained.json."""
    return os.path.dirname(input.trained)


def converted_pairs(wildcards):
    """The experiment's converted recordings and, in the same order, their sources."""
    convert = EXPERIMENTS[wildcards.experiment].convert
    names = sorted(convert)
    return {
        "converted": expand(CONVERTED_WAV, experiment=wildcards.experiment, name=names),
        "sources": [convert[n] for n in names],
    }
