"""Command line: ``rvc-pipeline <command> ...`` (one sub-command per task)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rvc_pipeline.f0 import F0_METHODS
from rvc_pipeline.logs import to_rule_log


def _convert(args: argparse.Namespace) -> None:
    from rvc_pipeline.convert import convert_file  # torch and faiss load only when needed

    summary = convert_file(
        args.model,
        args.input,
        args.output,
        index_path=args.index,
        index_rate=args.index_rate,
        protect=args.protect,
        transpose=args.transpose,
        f0_method=args.f0_method,
        rms_mix_rate=args.rms_mix_rate,
        sid=args.sid,
        hubert_weights=args.hubert,
        hubert_standin=args.hubert_standin,
        rmvpe_weights=args.rmvpe,
        device=args.device,
        seed=args.seed,
    )
    print(json.dumps(summary, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rvc-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="convert a recording with an exported model")
    convert.add_argument("model", type=Path, help="exported model (weights/{exp}.pth)")
    convert.add_argument("input", type=Path, help="recording to convert (any format ffmpeg reads)")
    convert.add_argument("output", type=Path, help="WAV to write (16-bit, at the model's rate)")
    convert.add_argument("--index", type=Path, help="added_IVF…index of the same experiment")
    convert.add_argument("--index-rate", type=float, default=0.75, help="share of retrieved features (0..1)")
    convert.add_argument("--protect", type=float, default=0.33,
                         help="share of retrieval kept on unvoiced frames; 0.5 or more turns protection off")
    convert.add_argument("--transpose", type=float, default=0, help="pitch shift in semitones")
    convert.add_argument("--f0-method", default="pm", choices=[*F0_METHODS, "rmvpe"])
    convert.add_argument("--rms-mix-rate", type=float, default=0.25,
                         help="1 keeps the output's loudness; 0 gives it the input's envelope")
    convert.add_argument("--sid", type=int, default=0, help="speaker id")
    convert.add_argument("--hubert", type=Path, help="HuBERT/ContentVec weights (hubert_base.pt)")
    convert.add_argument("--hubert-standin", default="base",
                         help="random stand-in used when --hubert is missing (tests only)")
    convert.add_argument("--rmvpe", type=Path, default=Path("pretrained/rmvpe.pt"),
                         help="RVC's rmvpe.pt, read for --f0-method rmvpe (default: %(default)s)")
    convert.add_argument("--device", default="cpu")
    convert.add_argument("--seed", type=int, default=0, help="seed of the synthesiser's noise")
    convert.set_defaults(run=_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    to_rule_log(None, logging.INFO if args.verbose else logging.WARNING)
    try:
        args.run(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"rvc-pipeline {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
