"""Static checks: snakemake --lint, snakefmt, the SLURM profile, the two README commands."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

BIN = Path(sys.executable).parent


def run(*cmd, env=None):
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.slow
def test_snakemake_lint_is_clean():
    result = run(str(BIN / "snakemake"), "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_snakefmt_check_is_clean():
    result = run(str(BIN / "snakefmt"), "--check", "Snakefile", "rules/")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_slurm_profile_dry_run(tmp_path):
    env = {"RVC_SLURM_ACCOUNT": "ci", "RVC_SLURM_PARTITION": "debug", "RVC_SLURM_GPU_PARTITION": "gpu"}
    result = run(
        str(BIN / "snakemake"), "--workflow-profile", "profiles/slurm", "-n",
        "--directory", str(tmp_path), "--configfile", str(REPO / "config" / "config.yaml"),
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    resources: dict[str, set[str]] = {}  # rule -> the distinct "resources:" lines of its jobs
    rule = None
    for line in result.stdout.splitlines():
        stripped = line.strip()
        if stripped.startswith("rule ") and stripped.endswith(":"):
            rule = stripped[5:-1].split("_batch_")[0]  # a GPU batch's rule: its step
        elif stripped.startswith("resources:") and rule:
            resources.setdefault(rule, set()).add(stripped)
    for rule in ("extract_features", "train_model"):  # GPU jobs (features in a batch) on the GPU partition
        assert len(resources[rule]) == 1, resources
        (line,) = resources[rule]
        assert "slurm_partition=gpu" in line and "gpu=1" in line.split(", ")
    for rule in ("slice_audio", "extract_f0"):  # CPU work on the CPU partition
        assert all("slurm_partition=debug" in line and "gpu=" not in line for line in resources[rule])


def test_readme_starts_with_the_two_commands():
    lines = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("make ")]
    assert [line.split()[1] for line in lines[:2]] == ["run", "test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


@pytest.mark.slow
def test_parsing_the_workflow_imports_nothing_heavy(tmp_path):
    # Every Snakemake start, dry run and cluster job pays for what the rules import at parse time.
    heavy = ("scipy", "torch", "av", "transformers", "soxr", "faiss", "parselmouth", "pyworld")
    probe = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print('LOADED', sorted(m for m in {heavy!r} if m in sys.modules)))\n"
        "from snakemake.cli import main\n"
        "main()\n"
    )
    result = run(
        sys.executable, "-c", probe, "-n", "all", "--directory", str(tmp_path),
        "--configfile", str(REPO / "config" / "config.yaml"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOADED []" in result.stdout, result.stdout[-2000:]


def test_rule_files_take_input_and_output_paths_from_common_smk():
    """Only log: and benchmark: paths may be spelled in a rule file; every other path of an
    experiment is a pattern of rules/common.smk (which builds them from rvc_pipeline.layout)."""
    literal = []
    for path in sorted((REPO / "rules").glob("*.smk")):
        if path.name == "common.smk":
            continue
        directive = None
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if re.fullmatch(r"\w+:", stripped) and line.startswith("    "):  # rules sit at any depth (loops)
                directive = stripped[:-1]
            if "results/" in stripped and not stripped.startswith("#") and directive not in ("log", "benchmark"):
                literal.append(f"{path.name}:{number} ({directive}): {stripped}")
    assert literal == []


def test_every_import_of_the_rules_and_scripts_resolves():
    """The run: blocks and scripts import their entry points from the stage packages: each names a callable."""
    import importlib
    import types

    text = "\n".join(p.read_text() for p in [*(REPO / "rules").glob("*.smk"), *(REPO / "scripts").glob("*.py")])
    imports = set(re.findall(r"^\s*from (rvc_pipeline[\w.]*) import (\w+)$", text, re.MULTILINE))
    assert ("rvc_pipeline.preprocess", "slice_source") in imports
    unresolved = [
        f"{module}.{name}"
        for module, name in sorted(imports)
        if not callable(getattr(importlib.import_module(module), name, None))
        and not isinstance(getattr(importlib.import_module(module), name, None), (dict, str, types.ModuleType))
    ]
    assert unresolved == []


def test_a_stage_package_names_what_it_does_not_export():
    import rvc_pipeline.preprocess

    with pytest.raises(AttributeError, match="module 'rvc_pipeline.preprocess' has no attribute 'nothing'"):
        rvc_pipeline.preprocess.nothing  # noqa: B018


def test_no_module_only_re_exports():
    """Rule and script text may change (the profiles leave the code trigger out): no module keeps
    an old import path alive, and none is only imports."""
    import ast

    only_imports = []
    for path in sorted((REPO / "src" / "rvc_pipeline").rglob("*.py")):
        body = ast.parse(path.read_text()).body
        if path.name == "__init__.py" or not body:
            continue
        kinds = {type(node) for node in body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))}
        if kinds <= {ast.Import, ast.ImportFrom, ast.Assign} and any(
            isinstance(node, (ast.Import, ast.ImportFrom)) for node in body
        ) and not any(isinstance(node, ast.Assign) and not _is_all(node) for node in body):
            only_imports.append(str(path.relative_to(REPO)))
    assert only_imports == []


def _is_all(node):
    return [getattr(t, "id", None) for t in node.targets] == ["__all__"]


def test_both_profiles_leave_the_code_trigger_out():
    for name in ("default", "slurm"):
        profile = yaml.safe_load((REPO / "profiles" / name / "profile.yaml").read_text())
        assert profile["rerun-triggers"] == ["mtime", "params", "input", "software-env"], name


@pytest.mark.parametrize("handler", ["onstart", "onsuccess", "onerror"])
def test_each_handler_is_defined_once(handler):
    """Snakemake keeps only the last handler of each kind: a second one silently drops the first
    (an onstart once dropped the forwarding of stop signals to the trainer)."""
    files = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    found = [f.name for f in files for line in f.read_text().splitlines() if line.startswith(f"{handler}:")]
    assert found == ["Snakefile"], found
