"""Which pretrained files a config needs, whether each is RVC's, a custom one that fits, or unusable;
the ``rvc-pipeline pretrained`` commands and the workflow's planning check."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import types
from pathlib import Path

import pytest
import torch
import yaml

from rvc_pipeline import cli
from rvc_pipeline.layout import SAMPLE_RATES
from rvc_pipeline.models import ModelConfig, build_discriminator, build_synthesizer, tiny_hparams
from rvc_pipeline.models.config import rvc_hparams
from rvc_pipeline.pretrained import manifest, needs, verify
from rvc_pipeline.pretrained.needs import fill_defaults, load_config, needed_assets, unused_with_tiny
from rvc_pipeline.pretrained.verify import file_sha256, problems, verify_config
from rvc_pipeline.pitch.rmvpe.network import Rmvpe
from test_hubert import Harmless, SystemCall, save_hf_pickle

SCHEMA = yaml.safe_load(needs.SCHEMA.read_text())


def config_of(experiments: dict, **sections) -> dict:
    """A config as the workflow sees it: defaults filled from config/schema.yaml."""
    return fill_defaults({"experiments": experiments, **sections}, SCHEMA)


def rvc(**experiments) -> dict:
    return config_of(experiments, train={"model": "rvc"})


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """The config's relative paths (pretrained/...) and the cache point into a fresh folder."""
    monkeypatch.chdir(tmp_path)


def shaped_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict with the module's names and shapes in a few bytes (stride-0 views of one zero)."""
    return {k: torch.zeros((), dtype=torch.float16).expand(v.shape) for k, v in module.state_dict().items()}


def save_gd(path: str | Path, role: str, hparams: dict, version: str = "v1", f0: bool = True) -> Path:
    with torch.device("meta"):
        if role == "generator":
            net = build_synthesizer(ModelConfig.from_hparams(hparams), version, f0)
        else:
            net = build_discriminator(hparams, version)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": shaped_state(net), "iteration": 0}, path)
    return path


def by_role(items) -> dict:
    return {item.role: item for item in items}


# ---- needs -----------------------------------------------------------------------------------


def test_v1_and_v2_defaults_lie_side_by_side_in_the_hub_layout():
    config = rvc(a={"demo": 1}, b={"demo": 1, "version": "v2", "sample_rate": "48k", "f0": False})
    found = {(n.role, n.experiments): n for n in needed_assets(config)}
    assert found[("generator", ("a",))].path == "pretrained/pretrained/f0G40k.pth"
    assert found[("discriminator", ("a",))].path == "pretrained/pretrained/f0D40k.pth"
    assert found[("generator", ("b",))].path == "pretrained/pretrained_v2/G48k.pth"
    assert found[("generator", ("b",))].asset.key == "v2_G48k"
    hubert = found[("hubert", ("a", "b"))]
    assert (hubert.path, hubert.required, hubert.asset.key) == ("pretrained/hubert_base.pt", False, "hubert_base")
    assert not any(n.role == "rmvpe" for n in found.values())


def test_the_speaker_encoder_is_needed_only_when_the_export_is_chosen_by_it():
    tiny = config_of({"a": {"demo": 1}}, train={"model": "tiny", "best_by": "speaker_similarity"})
    encoder = by_role(needed_assets(tiny))["speaker_encoder"]
    assert (encoder.path, encoder.required, encoder.asset.key) == (
        "pretrained/speaker_encoder/resemblyzer.pt", True, "speaker_encoder")
    assert "speaker_encoder" not in by_role(needed_assets(config_of({"a": {"demo": 1}}, train={"model": "tiny"})))


def test_experiments_with_the_same_rate_version_and_pitch_share_one_file():
    gens = [n for n in needed_assets(rvc(a={"demo": 1}, b={"demo": 2})) if n.role == "generator"]
    assert [(n.path, n.experiments) for n in gens] == [("pretrained/pretrained/f0G40k.pth", ("a", "b"))]


def test_tiny_model_and_warm_start_use_no_gd_and_tiny_names_present_files():
    tiny = config_of({"a": {"demo": 1}}, train={"model": "tiny"})
    assert [n.role for n in needed_assets(tiny)] == ["hubert"]
    assert unused_with_tiny(tiny) == []
    Path("pretrained/pretrained").mkdir(parents=True)
    Path("pretrained/pretrained/f0G40k.pth").write_bytes(b"x")
    assert unused_with_tiny(tiny) == ["pretrained/pretrained/f0G40k.pth"]
    assert unused_with_tiny(rvc(a={"demo": 1})) == []
    warm = rvc(a={"demo": 1}, b={"demo": 1, "warm_start": "a"})
    assert {n.experiments for n in needed_assets(warm) if n.role == "generator"} == {("a",)}


def test_rmvpe_is_required_when_pitch_or_conversion_uses_it():
    assert by_role(needed_assets(rvc(a={"demo": 1, "f0_method": "rmvpe"})))["rmvpe"].required
    converting = config_of({"a": {"input_dir": "x"}}, convert={"f0_method": "rmvpe"})
    assert "rmvpe" not in by_role(needed_assets(converting))  # nothing to convert
    assert by_role(needed_assets(converting, converting=["a"]))["rmvpe"].experiments == ("a",)
    with_dir = config_of({"a": {"input_dir": "x", "convert_dir": "y"}}, convert={"f0_method": "rmvpe"})
    assert "rmvpe" in by_role(needed_assets(with_dir))
    no_pitch = config_of({"a": {"demo": 1, "f0": False, "f0_method": "rmvpe"}}, convert={"f0_method": "rmvpe"})
    assert "rmvpe" not in by_role(needed_assets(no_pitch))


def test_explicit_patterns_keep_working():
    config = config_of(
        {"a": {"demo": 1, "version": "v2", "sample_rate": "32k"}},
        train={"model": "rvc"},
        pretrained={"generator": "w/{version}/{f0}G{sr}.pth", "discriminator": "w/{f0}D{sr}.pth"},
    )
    found = by_role(needed_assets(config))
    assert found["generator"].path == "w/v2/f0G32k.pth"
    assert found["discriminator"].path == "w/f0D32k.pth"
    assert found["generator"].asset.key == "v2_f0G32k"


def test_a_file_at_the_former_default_location_is_still_used_and_said():
    config = rvc(a={"demo": 1})
    Path("pretrained").mkdir()
    Path("pretrained/f0G40k.pth").write_bytes(b"x")  # only G there: D takes the new path
    found = by_role(needed_assets(config))
    assert found["generator"].path == "pretrained/f0G40k.pth"
    assert "former default" in found["generator"].note
    assert found["discriminator"].path == "pretrained/pretrained/f0D40k.pth"
    # once the new location holds the file, it wins
    Path("pretrained/pretrained").mkdir()
    Path("pretrained/pretrained/f0G40k.pth").write_bytes(b"x")
    assert by_role(needed_assets(config))["generator"].path == "pretrained/pretrained/f0G40k.pth"


def test_load_config_fills_defaults_and_names_a_bad_key(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("experiments: {a: {demo: 1}}\n")
    config = load_config(good)
    assert config["pretrained"]["hubert"] == "pretrained/hubert_base.pt"
    assert config["experiments"]["a"]["sample_rate"] == "40k"
    assert config["train"]["model"] == "rvc"
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments: {a: {demo: 1, sample_rate: 44k}}\n")
    with pytest.raises(ValueError, match=r"bad.yaml\): experiments.a.sample_rate: '44k' is not one of"):
        load_config(bad)


# ---- verify ----------------------------------------------------------------------------------


def test_official_custom_unusable_and_missing(monkeypatch):
    config = rvc(a={"demo": 1, "f0_method": "rmvpe"})
    h = rvc_hparams(SAMPLE_RATES["40k"], "v1")
    g = save_gd("pretrained/pretrained/f0G40k.pth", "generator", h)  # custom: RVC's shapes
    save_gd("pretrained/pretrained/f0D40k.pth", "discriminator", tiny_hparams(40000))  # wrong shapes
    Path("pretrained/hubert_base.pt").write_bytes(b"the official test file")
    official = dataclasses.replace(manifest.ASSETS["hubert_base"], sha256=file_sha256("pretrained/hubert_base.pt"))
    monkeypatch.setitem(manifest.ASSETS, "hubert_base", official)
    checks = by_role(verify_config(config))
    assert (checks["hubert"].status, checks["hubert"].sha256) == ("official", official.sha256)
    assert checks["generator"].status == "custom"
    assert checks["generator"].sha256 == file_sha256(g)
    assert checks["discriminator"].status == "unusable"
    assert "does not fit the model" in checks["discriminator"].reason
    assert "shape mismatch" in checks["discriminator"].reason
    assert checks["rmvpe"].status == "missing" and checks["rmvpe"].required
    assert [c.role for c in problems(list(checks.values()))] == ["rmvpe", "discriminator"]


def test_a_g_of_the_wrong_pitch_setting_or_version_is_unusable():
    save_gd("pretrained/pretrained/G40k.pth", "generator", rvc_hparams(40000, "v1"), f0=True)
    assert by_role(verify_config(rvc(a={"demo": 1, "f0": False})))["generator"].status == "unusable"
    save_gd("pretrained/pretrained_v2/f0G40k.pth", "generator", rvc_hparams(40000, "v1"))
    check = by_role(verify_config(rvc(a={"demo": 1, "version": "v2"})))["generator"]
    assert check.status == "unusable" and "emb_phone.weight" in check.reason


def test_truncated_and_foreign_files_are_unusable_with_the_reason():
    g = save_gd("pretrained/pretrained/f0G40k.pth", "generator", rvc_hparams(40000, "v1"))
    g.write_bytes(g.read_bytes()[:1000])
    Path("pretrained/rmvpe.pt").write_bytes(b"not a torch file")
    Path("pretrained/hubert_base.pt").write_bytes(b"nor this")
    checks = by_role(verify_config(rvc(a={"demo": 1, "f0_method": "rmvpe"})))
    assert checks["generator"].status == "unusable"
    assert "cannot load checkpoint" in checks["generator"].reason
    assert checks["rmvpe"].status == "unusable" and "rmvpe.pt" in checks["rmvpe"].reason
    assert checks["hubert"].status == "unusable" and "hubert_base.pt" in checks["hubert"].reason


def test_custom_hubert_and_rmvpe_load_through_the_projects_loaders():
    Path("pretrained").mkdir()
    # Loads, but the jobs' loader refuses it: so must verify.
    torch.save({"model": {"w": torch.zeros(2)}, "cfg": {"model": {}, "task": {}}}, "pretrained/hubert_base.pt")
    with torch.device("meta"):
        net = Rmvpe()
    torch.save(shaped_state(net), "pretrained/rmvpe.pt")
    checks = by_role(verify_config(rvc(a={"demo": 1, "f0_method": "rmvpe"})))
    assert checks["hubert"].status == "unusable"
    assert checks["hubert"].reason.startswith("pretrained/hubert_base.pt: checkpoint does not match HuBERT: unexpected: w")
    assert checks["rmvpe"].status == "custom"
    folder = config_of({"a": {"demo": 1}}, pretrained={"hubert": "hf"})
    Path("hf").mkdir()
    assert by_role(verify_config(folder))["hubert"].status == "unusable"  # no config.json
    Path("hf/config.json").write_text("{}")
    assert "hf: cannot load the weights" in by_role(verify_config(folder))["hubert"].reason  # none in it
    save_hf_pickle(Path("hf"))
    assert by_role(verify_config(folder))["hubert"].status == "custom"


@pytest.mark.parametrize("payload", ["harmless", "system"])
def test_a_hf_hubert_whose_pickle_the_jobs_refuse_is_unusable_in_one_line(tmp_path, payload):
    marker = tmp_path / "pwned"
    save_hf_pickle(Path("hf"), Harmless() if payload == "harmless" else SystemCall(marker))
    check = by_role(verify_config(config_of({"a": {"demo": 1}}, pretrained={"hubert": "hf"})))["hubert"]
    assert check.status == "unusable"
    assert check.reason.startswith("hf/pytorch_model.bin: cannot load the weights: refusing to unpickle it: it needs ")
    message = verify.unusable_message([check])
    assert message.splitlines()[1] == f"  hf: {check.reason}"
    assert not marker.exists()


def test_a_file_rewritten_inside_a_hubert_folder_is_checked_again():
    folder = config_of({"a": {"demo": 1}}, pretrained={"hubert": "hf"})
    bin_file = save_hf_pickle(Path("hf"))
    assert by_role(verify_config(folder))["hubert"].status == "custom"
    before = os.stat("hf")
    state = torch.load(bin_file, weights_only=True)
    torch.save({**state, "extra": Harmless()}, bin_file)  # in place: the folder's own mtime stays
    os.utime("hf", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert by_role(verify_config(folder))["hubert"].status == "unusable"


def test_a_custom_speaker_encoder_is_read_by_its_own_loader():
    from rvc_pipeline.quality.speaker import SpeakerEncoder

    config = config_of({"a": {"demo": 1}}, train={"model": "tiny", "best_by": "speaker_similarity"})
    path = Path(needs.speaker_encoder_path(config))
    path.parent.mkdir(parents=True)
    torch.save({"model_state": SpeakerEncoder().state_dict()}, path)
    assert by_role(verify_config(config))["speaker_encoder"].status == "custom"
    torch.save({"model_state": {"w": torch.zeros(1)}}, path)
    check = by_role(verify_config(config))["speaker_encoder"]
    assert check.status == "unusable" and check.reason.startswith(f"{path}: ")


def test_a_reason_that_spans_lines_is_said_in_one():
    path = Path("pretrained/crepe/full.pth")
    path.parent.mkdir(parents=True)
    torch.save({"x": Harmless()}, path)  # torch's refusal is a paragraph
    check = by_role(verify_config(rvc(a={"demo": 1, "f0_method": "crepe"})))["crepe"]
    assert check.status == "unusable" and str(path) in check.reason and "\n" not in check.reason


def test_results_are_cached_by_size_and_mtime(monkeypatch):
    config = rvc(a={"demo": 1})
    g = save_gd("pretrained/pretrained/f0G40k.pth", "generator", rvc_hparams(40000, "v1"))
    first = verify_config(config)
    cache = json.loads(verify.CACHE_PATH.read_text())
    assert str(g.resolve()) in cache["files"]

    def no_rehash(*args, **kwargs):
        raise AssertionError("hashed or loaded again")

    monkeypatch.setattr(verify, "file_sha256", no_rehash)
    monkeypatch.setattr(verify, "_fits_gd", no_rehash)
    assert verify_config(config) == first
    stat = g.stat()
    os.utime(g, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # a replaced file: checked again
    with pytest.raises(AssertionError, match="hashed or loaded again"):
        verify_config(config)


# ---- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def fake_fetch(monkeypatch):
    """``rvc_pipeline.pretrained.fetch`` as the agreed interface, recording its calls; a key in
    ``fail`` raises FetchError."""
    calls, fail = [], set()

    class FetchError(RuntimeError):
        pass

    def fetch_asset(asset, target, *, base_url=None, force=False, cache_dir=None, report=None):
        calls.append((asset.key, str(target), base_url, force))
        if asset.key in fail:
            raise FetchError(f"{target}: 404 at {base_url}/{asset.path}")
        return "downloaded"

    module = types.SimpleNamespace(fetch_asset=fetch_asset, FetchError=FetchError)
    monkeypatch.setitem(sys.modules, "rvc_pipeline.pretrained.fetch", module)
    return calls, fail


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def test_fetch_without_names_fetches_exactly_what_the_config_needs(tmp_path, fake_fetch, capsys):
    calls, fail = fake_fetch
    configfile = write_config(
        tmp_path / "c.yaml",
        {"experiments": {"a": {"demo": 1, "version": "v2", "f0_method": "rmvpe"}}, "train": {"model": "rvc"}},
    )
    assert cli.main(["pretrained", "fetch", "--configfile", str(configfile), "--base-url", "/mirror"]) == 0
    assert sorted(calls) == sorted(
        [
            ("hubert_base", "pretrained/hubert_base.pt", "/mirror", False),
            ("rmvpe", "pretrained/rmvpe.pt", "/mirror", False),
            ("v2_f0G40k", "pretrained/pretrained_v2/f0G40k.pth", "/mirror", False),
            ("v2_f0D40k", "pretrained/pretrained_v2/f0D40k.pth", "/mirror", False),
        ]
    )
    assert capsys.readouterr().out.count("downloaded") == 4
    calls.clear()
    fail.add("rmvpe")
    assert cli.main(["pretrained", "fetch", "--configfile", str(configfile)]) == 1
    assert "failed      pretrained/rmvpe.pt: pretrained/rmvpe.pt: 404" in capsys.readouterr().out
    assert len(calls) == 4  # the others are still fetched


def test_fetch_keeps_a_custom_file_and_refuses_an_unusable_one_without_force(tmp_path, fake_fetch, capsys):
    calls, _ = fake_fetch
    configfile = write_config(tmp_path / "c.yaml", {"experiments": {"a": {"demo": 1}}, "train": {"model": "rvc"}})
    save_gd("pretrained/pretrained/f0G40k.pth", "generator", rvc_hparams(40000, "v1"))
    save_gd("pretrained/pretrained/f0D40k.pth", "discriminator", tiny_hparams(40000))
    assert cli.main(["pretrained", "fetch", "--configfile", str(configfile)]) == 1
    out = capsys.readouterr().out
    assert "present     pretrained/pretrained/f0G40k.pth (custom:" in out
    assert "failed      pretrained/pretrained/f0D40k.pth:" in out and "--force" in out
    assert [c[0] for c in calls] == ["hubert_base"]
    calls.clear()
    assert cli.main(["pretrained", "fetch", "--configfile", str(configfile), "--force"]) == 0
    assert sorted(c[0] for c in calls) == ["hubert_base", "v1_f0D40k", "v1_f0G40k"]


def test_fetch_named_files_go_under_dest(fake_fetch, capsys):
    calls, _ = fake_fetch
    assert cli.main(["pretrained", "fetch", "pretrained_v2/f0G40k.pth", "rmvpe", "--dest", "w"]) == 0
    assert [(c[0], c[1]) for c in calls] == [("v2_f0G40k", "w/pretrained_v2/f0G40k.pth"), ("rmvpe", "w/rmvpe.pt")]
    assert cli.main(["pretrained", "fetch", "pretrained_v2/f0G41k.pth"]) == 1
    assert "did you mean" in capsys.readouterr().err


def test_verify_exit_status(tmp_path, capsys):
    only_hubert_missing = write_config(tmp_path / "a.yaml", {"experiments": {"a": {"demo": 1}}, "train": {"model": "tiny"}})
    assert cli.main(["pretrained", "verify", "--configfile", str(only_hubert_missing)]) == 0
    assert "pretrained/hubert_base.pt  hubert        missing" in capsys.readouterr().out
    rmvpe_missing = write_config(tmp_path / "b.yaml", {"experiments": {"a": {"demo": 1, "f0_method": "rmvpe"}}})
    assert cli.main(["pretrained", "verify", "--configfile", str(rmvpe_missing)]) == 1
    assert "error: pretrained/rmvpe.pt: not found" in capsys.readouterr().err
    gd = write_config(tmp_path / "c.yaml", {"experiments": {"a": {"demo": 1}}})
    assert cli.main(["pretrained", "verify", "--configfile", str(gd)]) == 0  # G/D missing: a warning
    save_gd("pretrained/f0G40k.pth", "generator", rvc_hparams(40000, "v1"))  # the former default
    assert cli.main(["pretrained", "verify", "--configfile", str(gd)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\npretrained/f0G40k.pth +generator +custom ", out)
    assert "note: using pretrained/f0G40k.pth (the former default location" in out
    save_gd("pretrained/pretrained/f0G40k.pth", "generator", tiny_hparams(40000))
    assert cli.main(["pretrained", "verify", "--configfile", str(gd)]) == 1
    assert "error: pretrained/pretrained/f0G40k.pth:" in capsys.readouterr().err


# ---- the workflow's planning check -----------------------------------------------------------


@pytest.mark.slow
def test_planning_stops_on_an_unusable_g_and_names_custom_and_tiny_once(workflow):
    root = workflow.workdir
    gd = rvc_hparams(40000, "v1")
    save_gd(root / "pretrained/pretrained/f0G40k.pth", "generator", tiny_hparams(40000))
    save_gd(root / "pretrained/pretrained/f0D40k.pth", "discriminator", gd)
    workflow.write_config({"experiments": {"a": {"demo": 1}}, "train": {"model": "rvc"}})
    result = workflow.run("-n", check=False)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "unusable pretrained files" in out
    assert "pretrained/pretrained/f0G40k.pth:" in out and "does not fit the model" in out
    assert "rule " not in result.stdout  # stopped before planning any job
    assert not (root / "results/a/demo_recordings").exists()

    save_gd(root / "pretrained/pretrained/f0G40k.pth", "generator", gd)
    result = workflow.run("-n")
    out = result.stdout + result.stderr
    jobs = workflow.dry_run_jobs()
    assert ("train_model", "experiment=a") in jobs
    assert not [job for job in jobs if job[0] == "fetch_pretrained"]  # present files are not fetched
    assert out.count("pretrained/pretrained/f0G40k.pth: custom file") == 1
    assert not (root / "results").exists()  # a dry run records nothing; a run with jobs does
    workflow.run("preprocess")
    checks = json.loads((root / "results/a/pretrained.json").read_text())
    assert {c["role"]: c["status"] for c in checks} == {
        "hubert": "missing",
        "generator": "custom",
        "discriminator": "custom",
    }

    workflow.write_config({"experiments": {"a": {"demo": 1}}, "train": {"model": "tiny"}})
    result = workflow.run("-n")
    out = result.stdout + result.stderr
    assert out.count("pretrained files are not used with model: tiny") == 1


def test_report_pages_name_each_file_with_its_hash_and_status(tmp_path):
    from rvc_pipeline.reporting.page import Page
    from rvc_pipeline.reporting.pretrained import pretrained_section

    config = rvc(a={"demo": 1})
    g = save_gd("pretrained/pretrained/f0G40k.pth", "generator", rvc_hparams(40000, "v1"))
    need_list = needed_assets(config)
    verify.write_experiment_checks(verify_config(config, needs=need_list), need_list)
    folder = Path("results/a")
    assert [c.role for c in verify.read_experiment_checks(folder)] == ["hubert", "generator", "discriminator"]
    page = Page("Training: a")
    pretrained_section(page, folder, ("generator", "discriminator"))
    html = "".join(page.parts)
    assert f"<td>{file_sha256(g)[:12]}</td>" in html and "<td>custom</td>" in html
    assert "pretrained/pretrained/f0D40k.pth: not found" in html  # the warning with its fix
    assert "hubert_base.pt" not in html  # the Data page's
    empty = Page("Data: b")
    pretrained_section(empty, tmp_path / "nothing", ("hubert",))
    assert len(empty.parts) == 1


@pytest.mark.slow
def test_planning_stops_in_one_line_on_a_hubert_folder_whose_pickle_the_jobs_refuse(workflow):
    root = workflow.workdir
    marker = root / "pwned"
    save_hf_pickle(root / "hf", SystemCall(marker))
    workflow.write_config({"experiments": {"a": {"demo": 1}}, "train": {"model": "tiny"}, "pretrained": {"hubert": "hf"}})
    result = workflow.run("-n", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    named = [line for line in out.splitlines() if "pytorch_model.bin" in line]
    assert named == [
        "  hf: hf/pytorch_model.bin: cannot load the weights: refusing to unpickle it: it needs posix.system, "
        "which weights_only loading does not allow (it could run code); a checkpoint holds tensors and plain values only"
    ]
    assert "Traceback" not in out
    assert "rule " not in result.stdout  # stopped before planning any job
    assert not marker.exists() and not (root / "results/a").exists()


@pytest.mark.slow
def test_download_true_makes_the_files_inputs_and_false_leaves_runs_as_they_were(workflow):
    config = {"experiments": {"a": {"demo": 1}}, "train": {"model": "rvc"}}
    workflow.write_config(config)
    # the wildcard is the path under the folder the fetched files share (the rule's constant prefix)
    fetches = {"pretrained_file=hubert_base.pt", "pretrained_file=pretrained/f0G40k.pth", "pretrained_file=pretrained/f0D40k.pth"}
    assert not [job for job in workflow.dry_run_jobs() if job[0] == "fetch_pretrained"]
    assert {w for rule, w in workflow.dry_run_jobs("pretrained") if rule == "fetch_pretrained"} == fetches
    workflow.write_config({**config, "pretrained": {"download": True}})
    assert {w for rule, w in workflow.dry_run_jobs() if rule == "fetch_pretrained"} == fetches
    result = workflow.run("-n")
    train_job = result.stdout.split("rule train_model:")[1].split("reason:")[0]
    assert "pretrained/pretrained/f0G40k.pth" in train_job and "pretrained/pretrained/f0D40k.pth" in train_job
    assert "WARNING: HuBERT weights" not in result.stdout + result.stderr
    assert "no pretrained G" not in result.stdout + result.stderr


# ---- the commands and the rule with the real download code ------------------------------------


def test_cli_fetch_downloads_from_a_local_mirror_and_a_second_fetch_downloads_nothing(tmp_path, monkeypatch, capsys):
    """``pretrained fetch NAME --base-url FOLDER`` through the real fetch code: the file lands
    under --dest with its hash checked, and a second fetch finds it present."""
    mirror = tmp_path / "mirror"
    (mirror / "pretrained_v2").mkdir(parents=True)
    payload = os.urandom(4096)
    (mirror / "pretrained_v2" / "f0G40k.pth").write_bytes(payload)
    import hashlib

    asset = dataclasses.replace(manifest.ASSETS["v2_f0G40k"], sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(manifest.ASSETS, "v2_f0G40k", asset)
    monkeypatch.setenv("RVC_PRETRAINED_CACHE", str(tmp_path / "cache"))
    args = ["pretrained", "fetch", "pretrained_v2/f0G40k.pth", "--base-url", str(mirror), "--dest", "w"]
    assert cli.main(args) == 0
    assert Path("w/pretrained_v2/f0G40k.pth").read_bytes() == payload
    assert "downloaded  w/pretrained_v2/f0G40k.pth" in capsys.readouterr().out
    (mirror / "pretrained_v2" / "f0G40k.pth").unlink()  # nothing left to download from
    assert cli.main(args) == 0
    assert "present     w/pretrained_v2/f0G40k.pth" in capsys.readouterr().out


@pytest.mark.slow
def test_the_fetch_rule_refuses_a_file_with_the_wrong_hash_and_leaves_nothing(workflow):
    """The `pretrained` target through the real fetch code and a mirror holding a wrong file:
    the job fails naming the file and both hashes, and nothing is left at the target."""
    root = workflow.workdir
    (root / "mirror").mkdir()
    (root / "mirror" / "hubert_base.pt").write_bytes(b"not RVC's hubert")
    workflow.write_config({"experiments": {"a": {"demo": 1}}, "train": {"model": "tiny"}})
    result = workflow.run("pretrained", check=False, env={"RVC_PRETRAINED_URL": str(root / "mirror")})
    assert result.returncode != 0
    log = (root / "results/logs/fetch_pretrained/pretrained/hubert_base.pt.log").read_text()
    assert manifest.ASSETS["hubert_base"].sha256 in log
    assert not (root / "pretrained/hubert_base.pt").exists()
    assert not [p for p in (root / "pretrained").iterdir() if p.name.endswith(".tmp")]


def test_pitch_weight_paths_names_a_missing_file_unless_the_run_downloads_it(tmp_path: Path) -> None:
    present, missing = tmp_path / "rmvpe.pt", tmp_path / "fcpe.pt"
    present.write_bytes(b"x")
    asset = manifest.ASSETS["rmvpe"]
    found = needs.Need(str(present), asset, "rmvpe", ("alice",), True)
    absent = needs.Need(str(missing), asset, "fcpe", ("bob", "carol"), True)
    hubert = needs.Need(str(missing), None, "hubert", ("alice",), False)
    methods = {"rmvpe", "fcpe", "pm"}
    assert needs.pitch_weight_paths([found, hubert], methods, download=False) == {"rmvpe": str(present)}
    assert needs.pitch_weight_paths([found, absent], methods, download=True) == {"rmvpe": str(present), "fcpe": str(missing)}
    with pytest.raises(FileNotFoundError, match=rf"f0_method fcpe needs its weights '{re.escape(str(missing))}' .*key 'rmvpe'.*experiments: bob, carol"):
        needs.pitch_weight_paths([found, absent], methods, download=False)


def test_the_training_speaker_encoder_is_named_when_missing_unless_the_run_downloads_it(tmp_path: Path) -> None:
    weights = tmp_path / "resemblyzer.pt"
    encoder = needs.Need(str(weights), manifest.ASSETS["speaker_encoder"], "speaker_encoder", ("alice",), True)
    hubert = needs.Need(str(tmp_path / "hubert.pt"), None, "hubert", ("alice",), False)
    assert needs.training_speaker_encoder([hubert], download=False) is None
    assert needs.training_speaker_encoder([hubert, encoder], download=True) == str(weights)
    with pytest.raises(FileNotFoundError, match=r"best_by speaker_similarity needs .*rvc-pipeline pretrained fetch speaker_encoder"):
        needs.training_speaker_encoder([hubert, encoder], download=False)
    weights.write_bytes(b"x")
    assert needs.training_speaker_encoder([hubert, encoder], download=False) == str(weights)


def test_unusable_message_names_each_unusable_file_with_its_reason() -> None:
    def check(path: str, status: str, reason: str = "") -> verify.AssetCheck:
        return verify.AssetCheck(path, None, "generator", status, False, reason, None)

    assert verify.unusable_message([check("a.pth", "official"), check("b.pth", "missing")]) == ""
    message = verify.unusable_message([check("a.pth", "unusable", "not a checkpoint"), check("b.pth", "custom", "fits")])
    assert message.startswith("unusable pretrained files")
    assert message.splitlines()[1:] == ["  a.pth: not a checkpoint"]


@pytest.mark.parametrize(
    "paths, folder",
    [
        (["pretrained/hubert_base.pt"], "pretrained/"),
        (["pretrained/rmvpe.pt", "pretrained/pretrained_v2/f0G40k.pth"], "pretrained/"),
        (["/models/a.pt", "/models/v2/b.pt"], "/models/"),
        (["hubert_base.pt", "pretrained/rmvpe.pt"], ""),
        (["/models/a.pt", "pretrained/b.pt"], ""),  # absolute and relative
        (["./pretrained/a.pt"], ""),  # commonpath drops "./": no prefix rather than a wrong one
        ([], ""),
    ],
)
def test_fetch_folder_is_a_prefix_of_every_path(paths, folder):
    assert needs.fetch_folder(paths) == folder
    assert all(path.startswith(folder) for path in paths)
