"""The declared versions guard the stages' outputs: each stage on its golden input gives the
fingerprint kept in tests/golden/stages.json for its current version (see tests/golden.py)."""

from __future__ import annotations

import golden
import pytest

KEPT = golden.read_store()
STAGES = golden.stages()


@pytest.mark.parametrize("name", [*STAGES, *sorted(set(KEPT) - set(STAGES))])
def test_stage_outputs_agree_with_its_version(name: str) -> None:
    if name not in STAGES:
        pytest.fail(golden.stale(name), pytrace=False)
    stage = STAGES[name]
    _, message = golden.problem(stage, KEPT.get(name), golden.fingerprint(stage))
    if message:
        pytest.fail(message, pytrace=False)


# -- the checker itself, on a stage of made-up outputs -------------------------------------------

DECLARED = "DEMO_VERSION (src/rvc_pipeline/versions.py)"


def _stage(version: str) -> golden.Stage:
    return golden.Stage("demo", lambda: version, DECLARED, lambda tmp: {}, rtol=1e-3)


def _outputs(lengths: list[int], values: list[float]) -> dict:
    return {"lengths": lengths, "values": golden.profile(values)}


KEPT_DEMO = {"version": "2", "outputs": _outputs([3, 4], [1.0, 2.0, -3.0, 4.0])}


def test_floats_within_the_tolerance_of_their_scale_agree() -> None:
    # 1e-3 of the largest block RMS (4.0) is 4e-3: 3e-3 passes, 5e-3 does not.
    assert golden.problem(_stage("2"), KEPT_DEMO, _outputs([3, 4], [1.003, 2.0, -3.0, 4.0])) == ("", "")
    verdict, message = golden.problem(_stage("2"), KEPT_DEMO, _outputs([3, 4], [1.005, 2.0, -3.0, 4.0]))
    assert verdict == "unbumped" and "values: block 0 mean 1 -> 1.005" in message


def test_a_changed_output_without_a_bump_names_the_stage_and_the_constant() -> None:
    verdict, message = golden.problem(_stage("2"), KEPT_DEMO, _outputs([3, 5], [1.0, 2.0, -3.0, 4.0]))
    assert verdict == "unbumped"
    assert message.startswith(f"stage demo: outputs changed but {DECLARED} is still '2': bump it")
    assert "`.venv/bin/python tests/golden.py --update demo`" in message
    assert message.endswith("Changed: lengths: [3, 4] -> [3, 5]")


def test_a_bump_without_a_change_asks_to_revert_it() -> None:
    verdict, message = golden.problem(_stage("3"), KEPT_DEMO, KEPT_DEMO["outputs"])
    assert verdict == "unchanged"
    assert message.startswith(f"stage demo: version bumped to '3' but its outputs are unchanged: revert the bump of {DECLARED} to '2'")


def test_a_change_with_its_bump_asks_for_a_refresh_and_a_new_stage_for_a_record() -> None:
    changed = _outputs([3, 5], [1.0, 2.0, -3.0, 4.0])
    assert golden.problem(_stage("3"), KEPT_DEMO, changed)[0] == "bumped"
    assert golden.problem(_stage("3"), None, changed)[0] == "new"
    assert golden.differences({"x": golden.profile([1.0, 2.0])}, {"x": golden.profile([1.0, 2.0, 3.0])}, 1.0) == ["x: shape [2] -> [3]"]
