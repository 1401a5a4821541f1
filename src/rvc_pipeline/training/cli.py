"""The training loop as a command: ``python -m rvc_pipeline.training.cli --filelist F --config C
--state-dir S --options JSON``, the process that torchrun starts once per GPU."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rvc_pipeline.logs import run_script
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.training.loop import train


def _parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, TrainOptions]:
    parser = argparse.ArgumentParser(prog="python -m rvc_pipeline.training.cli", description="Train (or resume) an RVC model.")
    parser.add_argument("--filelist", required=True)
    parser.add_argument("--config", required=True, help="config.json (RVC's hparams)")
    parser.add_argument("--state-dir", required=True, help="folder for G_*/D_* checkpoints and losses.tsv")
    parser.add_argument("--validation", default=None, help="filelist of held-out segments (validation loss)")
    parser.add_argument("--log", default=None, help="log file (default: stderr)")
    parser.add_argument(
        "--options", default="{}", help="TrainOptions as JSON (TrainOptions.to_json); left-out fields keep their defaults"
    )
    args = parser.parse_args(argv)
    return args, TrainOptions.from_json(args.options)


def main(argv: Sequence[str] | None = None) -> None:
    args, options = _parse_args(argv)
    run_script(
        args.log,
        train,
        filelist=args.filelist,
        config_json=args.config,
        state_dir=args.state_dir,
        options=options,
        validation=args.validation,
    )


if __name__ == "__main__":
    main()
