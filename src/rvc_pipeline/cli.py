"""Command line: ``rvc-pipeline <command> ...`` (one sub-command per task)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rvc_pipeline.pitch.registry import METHODS as PITCH_METHODS
from rvc_pipeline.logs import to_rule_log
from rvc_pipeline.convert.model_commands import add_model_commands
from rvc_pipeline.overwrite import refuse_overwrite


def default_f0_weights(method: str) -> Path | None:
    """The method's weights where ``rvc-pipeline pretrained fetch`` puts them (None: it has none)."""
    from rvc_pipeline.pretrained.manifest import ASSETS
    from rvc_pipeline.pretrained.needs import PRETRAINED_DIR

    key = PITCH_METHODS[method].weights
    return Path(PRETRAINED_DIR, ASSETS[key].path) if key else None


def _convert(args: argparse.Namespace) -> None:
    from rvc_pipeline.convert.pipeline import convert_file  # torch and faiss load only when needed

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
        f0_weights=args.f0_weights or default_f0_weights(args.f0_method),
        device=args.device,
        seed=args.seed,
    )
    print(json.dumps(summary, indent=2))


def _doctor(args: argparse.Namespace) -> int:
    from rvc_pipeline.doctor import exit_code, render_json, render_table, run_doctor  # torch, av inside

    rows = run_doctor(args.configfile, args.profile, self_test=not args.no_self_test)
    print(render_json(rows) if args.json else render_table(rows))
    return exit_code(rows)


def _report(args: argparse.Namespace) -> None:
    from rvc_pipeline.reporting.snapshot import build_report  # matplotlib loads only when needed

    if args.output is not None and args.results.is_dir():
        # The report reads the experiments' folders and writes nothing under them.
        for folder in filter(Path.is_dir, args.results.iterdir()):
            refuse_overwrite(args.output, {"experiment folder": folder}, what="the report")
    pages = build_report(args.results, args.output)
    print(f"{args.output or Path(args.results) / 'report.html'}: {len(pages)} pages")


def _similarity(args: argparse.Namespace) -> None:
    import itertools

    from rvc_pipeline.quality.speaker import (
        embed_prepared,
        load_speaker_encoder,
        prepare,
        read_16k,
        speaker_similarity,
        too_little_voice,
    )

    if len(args.files) < 2:
        raise ValueError("give at least two audio files to compare")
    encoder = load_speaker_encoder(args.weights)
    embeddings, left_out = {}, []
    for path in dict.fromkeys(args.files):  # a file given twice is read once
        wav = read_16k(path)
        prepared = prepare(wav)
        problem = too_little_voice(wav, prepared)
        if problem:
            print(f"rvc-pipeline similarity: warning: {path}: {problem}: left out", file=sys.stderr)
            left_out.append({"file": str(path), "reason": problem})
        else:
            embeddings[path] = embed_prepared(encoder, prepared)
    kept = [path for path in args.files if path in embeddings]
    if len(kept) < 2:
        raise ValueError(f"fewer than two recordings left to compare ({len(left_out)} left out)")
    # Each unordered pair once, in the order given: `a a` is the pair (a, a), `a b a` gives (a, b) once.
    unique: dict[frozenset[Path], tuple[Path, Path]] = {}
    for a, b in itertools.combinations(kept, 2):
        unique.setdefault(frozenset((a, b)), (a, b))
    pairs = [
        {"a": str(a), "b": str(b), "similarity": round(speaker_similarity(embeddings[a], embeddings[b]), 4)}
        for a, b in unique.values()
    ]
    if args.json:
        print(json.dumps({"pairs": pairs, "left_out": left_out}, indent=2))
    else:
        for pair in pairs:
            print(f"{pair['similarity']:.3f}  {pair['a']}  {pair['b']}")


def _pretrained_list(args: argparse.Namespace) -> None:
    from rvc_pipeline.pretrained.manifest import ASSETS

    for asset in ASSETS.values():
        size = f"{asset.size / 1e6:.0f} MB" if asset.size else "-"
        print(f"{asset.key:<16} {asset.path:<32} {size:>7}  {asset.sha256[:12]}  {asset.used_by}")


def _fetch_one(asset, target: Path, args: argparse.Namespace) -> bool:
    """Fetch one file and print its line; False when it failed."""
    from rvc_pipeline.pretrained.fetch import FetchError, fetch_asset

    refuse_overwrite(target, {"workflow config": args.configfile}, what=asset.path)
    try:
        status = fetch_asset(asset, target, base_url=args.base_url, force=args.force)
    except FetchError as err:
        print(f"failed      {target}: {err}")
        return False
    print(f"{status:<11} {target}")
    return True


def _pretrained_fetch(args: argparse.Namespace) -> int:
    from rvc_pipeline.pretrained.manifest import ASSETS, find

    if args.names:
        try:
            assets = [find(name) for name in args.names]
        except KeyError as err:
            raise ValueError(err.args[0]) from None
        return int(not all([_fetch_one(a, args.dest / a.path, args) for a in assets]))
    from rvc_pipeline.pretrained.needs import load_config
    from rvc_pipeline.pretrained.verify import verify_config

    ok = True
    for check in verify_config(load_config(args.configfile)):
        # A file already there that fits (RVC's or the user's own) is kept; --force replaces it.
        if check.status == "custom" and not args.force:
            print(f"{'present':<11} {check.path} (custom: {check.reason})")
        elif check.status == "unusable" and not args.force:
            print(f"failed      {check.path}: {check.reason} (--force replaces it with RVC's file)")
            ok = False
        elif check.key is None or Path(check.path).is_dir():
            print(f"{'present':<11} {check.path} (a folder: nothing to fetch)")
        else:
            ok = _fetch_one(ASSETS[check.key], Path(check.path), args) and ok
    return int(not ok)


def _pretrained_verify(args: argparse.Namespace) -> int:
    from rvc_pipeline.pretrained.needs import load_config, needed_assets
    from rvc_pipeline.pretrained.verify import problems, short_sha, verify_config

    config = load_config(args.configfile)
    needs = needed_assets(config)
    checks = verify_config(config, needs=needs)
    width = max(len(c.path) for c in checks)
    print(f"{'file':<{width}}  {'role':<13} {'status':<9} {'sha256':<12}  reason")
    for c in checks:
        print(f"{c.path:<{width}}  {c.role:<13} {c.status:<9} {short_sha(c.sha256):<12}  {c.reason}")
    for need in needs:
        if need.note:
            print(f"note: {need.note}")
    bad = problems(checks)
    for c in bad:
        print(f"error: {c.path}: {c.reason}", file=sys.stderr)
    return int(bool(bad))


def _add_pretrained(commands: argparse._SubParsersAction) -> None:
    from rvc_pipeline.pretrained.needs import PRETRAINED_DIR

    pretrained = commands.add_parser(
        "pretrained", help="fetch, verify and list RVC's pretrained files (HuBERT, RMVPE, G/D)"
    )
    tasks = pretrained.add_subparsers(dest="task", required=True)
    configfile = argparse.ArgumentParser(add_help=False)
    configfile.add_argument("--configfile", type=Path, default=Path("config/config.yaml"),
                            help="the workflow's config, read as Snakemake does (default: %(default)s)")

    fetch = tasks.add_parser(
        "fetch", parents=[configfile],
        help="download pretrained files with SHA-256 checks",
        description="Download the files the config's experiments need (to the paths the config "
        "names), or the NAMEd ones (to DEST/their hub path). Each file's SHA-256 is checked before "
        "it is put in place; a file already there that fits is kept.",
    )
    fetch.add_argument("names", nargs="*", metavar="NAME",
                       help="hub path (e.g. pretrained_v2/f0G40k.pth, hubert_base.pt) or manifest key "
                       "(rvc-pipeline pretrained list); none: what the config needs")
    fetch.add_argument("--base-url", help="mirror or local folder laid out like RVC's hub "
                       "(default: $RVC_PRETRAINED_URL or RVC's hub on Hugging Face)")
    fetch.add_argument("--dest", type=Path, default=Path(PRETRAINED_DIR),
                       help="folder of NAMEd files (default: %(default)s)")
    fetch.add_argument("--force", action="store_true", help="replace a different file at the target")
    fetch.set_defaults(run=_pretrained_fetch)

    verify = tasks.add_parser(
        "verify", parents=[configfile],
        help="check every pretrained file the config points at",
        description="For each file the config's experiments use: official (RVC's published file), "
        "custom (another file that loads and fits the model), unusable (with the reason) or "
        "missing. Exits non-zero when a file is unusable or a required one (RMVPE) is missing; a "
        "missing HuBERT or G/D is a warning (stand-in features, training from scratch).",
    )
    verify.set_defaults(run=_pretrained_verify)

    listing = tasks.add_parser("list", help="the manifest: every file fetch knows")
    listing.set_defaults(run=_pretrained_list)


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
    convert.add_argument("--f0-method", default="pm", choices=list(PITCH_METHODS))
    convert.add_argument("--rms-mix-rate", type=float, default=0.25,
                         help="1 keeps the output's loudness; 0 gives it the input's envelope")
    convert.add_argument("--sid", type=int, default=0, help="speaker id")
    convert.add_argument("--hubert", type=Path, help="HuBERT/ContentVec weights (hubert_base.pt)")
    convert.add_argument("--hubert-standin", default="base",
                         help="random stand-in used when --hubert is missing (tests only)")
    convert.add_argument("--f0-weights", "--rmvpe", dest="f0_weights", type=Path,
                         help="weights of the --f0-method that has some (default: where `rvc-pipeline "
                              "pretrained fetch` puts them, e.g. pretrained/rmvpe.pt)")
    convert.add_argument("--device", default="cpu")
    convert.add_argument("--seed", type=int, default=0, help="seed of the synthesiser's noise")
    convert.set_defaults(run=_convert)

    doctor = commands.add_parser(
        "doctor", help="check this machine before training (exits 1 when something needed is broken)"
    )
    doctor.add_argument("--configfile", type=Path, default=Path("config/config.yaml"), help="default: %(default)s")
    doctor.add_argument("--profile", type=Path, default=Path("profiles/default"),
                        help="Snakemake profile the runs use, e.g. profiles/slurm (default: %(default)s)")
    doctor.add_argument("--no-self-test", action="store_true", help="skip the GPU self-test (about a minute)")
    doctor.add_argument("--json", action="store_true", help="the checks as JSON instead of a table")
    doctor.set_defaults(run=_doctor)

    report = commands.add_parser(
        "report",
        help="one HTML page of every experiment's report pages as they are now (during a training too)",
    )
    report.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: %(default)s)")
    report.add_argument("-o", "--output", type=Path, help="HTML file to write (default: RESULTS/report.html)")
    report.set_defaults(run=_report)
    _add_pretrained(commands)

    similarity = commands.add_parser(
        "similarity",
        help="speaker similarity (0..1) of every pair of recordings",
        description="Cosine similarity of the speaker embeddings (Resemblyzer's encoder) of every "
        "pair of files: typically 0.8-0.95 for two recordings of one voice, 0.4-0.7 for different voices. "
        "A file given twice is paired with itself (1.0). A silent file, or one with less than 1.6 s "
        "of audio once its silences are cut, is left out with a warning naming it (its embedding "
        "would describe padding, not a voice); the command fails when fewer than two files are left.",
    )
    similarity.add_argument("files", nargs="+", type=Path, metavar="FILE", help="recordings (any format ffmpeg reads)")
    similarity.add_argument("--weights", type=Path, default=Path("pretrained/speaker_encoder/resemblyzer.pt"),
                            help="the speaker encoder (rvc-pipeline pretrained fetch speaker_encoder; default: %(default)s)")
    similarity.add_argument("--json", action="store_true", help='print {"pairs": [{"a", "b", "similarity"}, …], "left_out": [{"file", "reason"}, …]}')
    similarity.set_defaults(run=_similarity)
    add_model_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    to_rule_log(None, logging.INFO if args.verbose else logging.WARNING)
    try:
        status = args.run(args)
    except (OSError, ValueError) as err:  # a missing file, a full disk, a bad input: one line
        print(f"rvc-pipeline {args.command}: error: {err}", file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
