"""``rvc-pipeline model ...``: RVC's checkpoint tab (info, set-info, merge, extract) on the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _info(args: argparse.Namespace) -> None:
    from rvc_pipeline.convert.voice_models import model_info  # torch loads only when needed

    info = model_info(args.model)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("\n".join(f"{key}: {value}" for key, value in info.items() if value is not None))


def _set_info(args: argparse.Namespace) -> None:
    from rvc_pipeline.convert.voice_models import set_info

    set_info(args.model, args.text)


def _merge(args: argparse.Namespace) -> None:
    from rvc_pipeline.convert.voice_models import merge_models

    info = (
        args.info
        if args.info is not None
        else f"{args.weight:g} x {args.a.name} + {1 - args.weight:g} x {args.b.name}"
    )
    merge_models(args.a, args.b, args.output, weight=args.weight, info=info)
    print(args.output)


def _extract(args: argparse.Namespace) -> None:
    from rvc_pipeline.convert.voice_models import extract_model

    extract_model(args.checkpoint, args.output)
    print(args.output)


def add_model_commands(commands: Any) -> None:
    """Add ``model`` and its sub-commands to the CLI's sub-parsers."""
    model = commands.add_parser(
        "model",
        help="RVC's checkpoint tab: show or edit a model's info, merge two models, extract a small model",
        description="RVC's checkpoint tab. MODEL files are small models (assets/weights/*.pth, "
        "weights/{exp}.pth) or training checkpoints G_*.pth, whose config.json must sit beside them.",
    )
    tasks = model.add_subparsers(dest="model_command", required=True)

    info = tasks.add_parser("info", help="rate, pitch, version, epoch/step, info text, other fields, SHA-256")
    info.add_argument("model", type=Path, help="small model or G_*.pth")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=_info)

    set_info = tasks.add_parser("set-info", help="replace a small model's info text, in place")
    set_info.add_argument("model", type=Path, help="small model")
    set_info.add_argument("text", help="the new info text")
    set_info.set_defaults(run=_set_info)

    merge = tasks.add_parser(
        "merge",
        help="weighted merge of two models (RVC's formula) into a small model",
        description="Every tensor becomes WEIGHT*A + (1-WEIGHT)*B in float, then fp16 (speaker "
        "embeddings cut to the smaller count); config and rate from A. A and B must have the same "
        "rate, pitch setting and version. Small models or G_*.pth (with their config.json).",
    )
    merge.add_argument("a", type=Path, help="first model")
    merge.add_argument("b", type=Path, help="second model")
    merge.add_argument("--weight", type=float, default=0.5, help="weight of A, 0..1 (default %(default)s)")
    merge.add_argument("-o", "--output", type=Path, required=True, help="small model to write")
    merge.add_argument("--info", help="info text of the result (default: the formula and file names)")
    merge.set_defaults(run=_merge)

    extract = tasks.add_parser(
        "extract",
        help="the small model of a training checkpoint G_*.pth",
        description="Write the small model of a G_*.pth exactly as the workflow's export_model does for "
        "that epoch; hyper-parameters from the config.json beside it, pitch and version from its weights.",
    )
    extract.add_argument("checkpoint", type=Path, help="G_{step}.pth (config.json beside it)")
    extract.add_argument("-o", "--output", type=Path, required=True, help="small model to write")
    extract.set_defaults(run=_extract)
