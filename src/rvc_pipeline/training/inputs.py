"""Step 3's inputs of one experiment, in RVC's formats: filelist.txt, validation.txt, config.json.

Also the report of the clips left out, and the list of every entry and what became of it when
no recording gave a segment to train on.
"""

from __future__ import annotations

import json
import os

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.training.filelist import write_filelist
from rvc_pipeline.models import ModelConfig, rvc_hparams, tiny_hparams
from rvc_pipeline.preprocess.dataset_report import entry_rows, read_reports
from rvc_pipeline.preprocess.sources import discover_sources


def experiment_hparams(model: str, sample_rate: int, version: str) -> dict:
    """RVC's config.json for the rate and version, or the tiny model of the tests and the demo."""
    return rvc_hparams(sample_rate, version) if model == "rvc" else tiny_hparams(sample_rate)


def write_config(hparams: dict, path: str | os.PathLike, *, fp16_run: bool = False) -> None:
    """Write config.json as RVC does (sorted keys, indent 4, trailing newline).

    ``train.fp16_run`` is set from ``fp16_run``: RVC rewrites it to false on CPUs, and our
    training takes its precision from its options anyway; the file records what was asked for.
    """
    config = json.loads(json.dumps(hparams))
    config["train"]["fp16_run"] = fp16_run
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(config, handle, ensure_ascii=False, indent=4, sort_keys=True)
            handle.write("\n")


def require_segments(source_reports: list[str | os.PathLike], input_dir: str | None) -> None:
    """Raise, listing every entry of ``input_dir`` and what became of it, when none gave a segment.

    ``source_reports`` are the per-source reports of slicing; the entries never sliced are read
    from ``input_dir`` again (only on failure, so adding one to the folder reruns nothing here).
    """
    if any(row.segments for path in source_reports for row in read_reports(path)):
        return
    excluded = discover_sources(input_dir)[1] if input_dir and os.path.isdir(input_dir) else {}
    lines = []
    for row in entry_rows(source_reports, excluded):
        why = "; ".join(part for part in (row.reason, row.dropped[:200]) if part)
        lines.append(f"  {row.source}: {row.status}" + (f": {why}" if why else ""))
    listing = "\n".join(lines) if lines else "  (it holds no recordings)"
    raise ValueError(f"nothing to train on: no recording in {input_dir!r} kept a segment:\n{listing}")


def prepare_training(
    filelist: str | os.PathLike,
    validation: str | os.PathLike,
    config: str | os.PathLike,
    report: str | os.PathLike,
    *,
    source_reports: list[str],
    input_dir: str | None,
    gt_wavs: list[str],
    features: list[str],
    f0_coarse: list[str] | None,
    f0_hz: list[str] | None,
    mute_dir: str,
    model: str,
    sample_rate: int,
    version: str,
    spk_id: int,
    seed: int,
    precision: str,
    validation_share: float,
) -> None:
    """``filelist.txt``, ``validation.txt`` (the held-out segments) and ``config.json`` (RVC's
    formats), and the report of clips left out.

    Fails listing each recording and why it gave nothing when no recording kept a segment.
    """
    require_segments(source_reports, input_dir)
    hparams = experiment_hparams(model, sample_rate, version)
    rows = write_filelist(
        filelist,
        gt_wavs,
        features,
        f0_coarse,
        f0_hz,
        mute_dir=mute_dir,
        sample_rate=sample_rate,
        hop_length=ModelConfig.from_hparams(hparams).hop_length,
        version=version,
        spk_id=spk_id,
        seed=seed,
        validation=validation,
        validation_share=validation_share,
    )
    write_config(hparams, config, fp16_run=precision == "fp16")
    with atomic_path(report) as tmp:
        tmp.write_text("file\treason\n" + "".join(f"{r['file']}\t{r['reason']}\n" for r in rows), encoding="utf-8")
