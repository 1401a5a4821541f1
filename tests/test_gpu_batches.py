"""Batches of the GPU steps on a cluster: stable membership, sizes, resources, one call per recording."""

import logging

from rvc_pipeline.gpu_batches import batch_count, batch_of, gpu_batches, resource_value, run_each

NAMES = [f"take_{k:04d}" for k in range(1000)]


def members(names, size):
    return {batch.number: set(batch.sources) for batch in gpu_batches("exp", names, size, dim=256, resources={})}


def test_every_recording_is_in_exactly_one_batch_of_about_the_size():
    batches = gpu_batches("exp", NAMES, 32, dim=256, resources={})
    assert len(batches) == batch_count(1000, 32) == 32
    assert sorted(name for batch in batches for name in batch.sources) == NAMES
    # 32 batches of a power-of-two count: every batch split, sizes spread around 1000/32.
    assert all(15 <= len(batch.sources) <= 50 for batch in batches), [len(b.sources) for b in batches]


def test_adding_a_recording_changes_only_its_own_batch():
    before = members(NAMES[:999], 32)
    after = members(NAMES[:999] + ["a_new_take"], 32)
    changed = [number for number in after if after[number] != before.get(number)]
    assert len(changed) == 1
    assert "a_new_take" in after[changed[0]]
    assert after[changed[0]] - before[changed[0]] == {"a_new_take"}


def test_one_more_batch_splits_exactly_one_batch():
    """Crossing a multiple of the size adds a batch: one old batch gives it members, the rest keep theirs."""
    before = members(NAMES[:96], 32)  # 3 batches
    after = members(NAMES[:97], 32)  # 4 batches
    assert (len(before), len(after)) == (3, 4)
    new = NAMES[96]
    # Old batches that lost members (the new recording aside): exactly one, all to the new batch 3.
    moved = [number for number in before if after[number] - {new} != before[number]]
    assert len(moved) == 1
    (split,) = moved
    assert after[3] - {new} == before[split] - after[split]
    assert after[3] - {new}  # the new batch did take members


def test_the_batch_of_a_name_depends_on_the_name_and_count_only():
    assert batch_of("take_0001", 5) == batch_of("take_0001", 5)
    assert {batch_of(name, 1) for name in NAMES} == {0}
    assert {batch_of(name, 5) for name in NAMES} == set(range(5))


def test_a_batch_names_its_rule_and_paths_and_sums_its_runtime():
    (batch,) = gpu_batches("alice", ["b", "a"], 32, dim=768, resources={"gpu": "1", "runtime": 2, "slurm_partition": "gpu"})
    assert batch.sources == ("a", "b")
    assert batch.rule("extract_features") == "extract_features_batch_alice_0"
    assert batch.paths("results/{experiment}/3_feature{dim}/{source}") == [
        "results/alice/3_feature768/a",
        "results/alice/3_feature768/b",
    ]
    assert batch.job_resources() == {"gpu": 1, "runtime": 4, "slurm_partition": "gpu"}


def test_resource_values_from_the_command_line_become_numbers_and_expand_variables(monkeypatch):
    monkeypatch.setenv("RVC_TEST_PARTITION", "gpu-a100")
    assert resource_value("1") == 1
    assert resource_value("1.5") == 1.5
    assert resource_value("$RVC_TEST_PARTITION") == "gpu-a100"
    assert resource_value(3) == 3


def test_run_each_calls_once_per_recording_with_its_own_arguments_and_log(tmp_path):
    calls = []

    def work(wav_dir, out_dir, device):
        logging.getLogger("rvc_pipeline").info("working on %s", wav_dir)
        calls.append((wav_dir, out_dir, device))

    logs = [str(tmp_path / "a.log"), str(tmp_path / "b.log")]
    run_each(work, logs=logs, per_member={"wav_dir": ["wa", "wb"], "out_dir": ["oa", "ob"]}, device="cpu")
    assert calls == [("wa", "oa", "cpu"), ("wb", "ob", "cpu")]
    assert "working on wa" in (tmp_path / "a.log").read_text()
    assert "working on wb" not in (tmp_path / "a.log").read_text()
    assert "job done in" in (tmp_path / "b.log").read_text()
