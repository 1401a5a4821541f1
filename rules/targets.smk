# The inputs of the Snakefile's target rules: per experiment, one output of each job a target
# needs and the report's pages of its stages.


# A job makes all its outputs, so a target asks for one output per job it needs: every file
# named here costs Snakemake time at every start (a third of a dry run with 10,000 sources).
def preprocess_targets(wildcards):
    """Each experiment's dataset report (it needs every source's slicing job) and Data pages."""
    return [
        path
        for name in EXPERIMENTS
        for path in [DATASET_REPORT.format(experiment=name)]
        + report_pages(name, "preprocess")
    ]


def extract_targets(wildcards):
    """Plus each source's features and (for pitch models) its pitch."""
    targets = preprocess_targets(wildcards)
    for name, exp in EXPERIMENTS.items():
        folders = [feature_folder(exp.settings["version"])]
        if exp.settings["f0"]:
            folders.append(layout.F0_COARSE)
        targets += report_pages(name, "extract")
        targets += [
            source_dir(name, folder, source)
            for folder in folders
            for source in EXPERIMENTS[name].sources
        ]
    return targets


def _weights(wildcards):
    return [
        path
        for name in TO_TRAIN
        for path in [EXPORTED_MODEL.format(experiment=name)]
        + report_pages(name, "train")
    ]


def _indexes(wildcards):
    return [
        path
        for name in PLAN.trainable
        for path in [INDEX_DIR.format(experiment=name)] + report_pages(name, "index")
    ]


def _pitch_pages(wildcards):
    return [path for name in EXPERIMENTS for path in report_pages(name, "extract")]


def train_targets(wildcards):
    """The exported voices (training needs every stage of every source) and the report's pages."""
    return preprocess_targets(wildcards) + _pitch_pages(wildcards) + _weights(wildcards)


def index_targets(wildcards):
    return extract_targets(wildcards) + _indexes(wildcards)


def all_targets(wildcards):
    converted = [
        CONVERTED_WAV.format(experiment=name, name=recording)
        for name in TO_TRAIN
        for recording in EXPERIMENTS[name].convert
    ] + [path for name in TO_TRAIN for path in report_pages(name, "convert")]
    return (
        preprocess_targets(wildcards)
        + _pitch_pages(wildcards)
        + _weights(wildcards)
        + _indexes(wildcards)
        + converted
    )
