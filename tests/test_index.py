import math
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch
from test_convert import voice  # noqa: F401  (a fixture: a tiny exported model, its index, an input)

from rvc_pipeline.cli import main
from rvc_pipeline.convert.pipeline import convert_recording
from rvc_pipeline.index.retrieval import (
    MIN_ROWS,
    index_file_name,
    n_ivf,
    read_features,
    read_index,
    reduce_kmeans,
    train_index,
)


def write_features(root: Path, rows_per_file: dict[str, list[int]], dim: int = 256, seed: int = 1) -> np.ndarray:
    """Write ``{source}/{source}_{j}.npy`` files; returns all rows in file order."""
    rng = np.random.default_rng(seed)
    written = []
    for source, counts in rows_per_file.items():
        (root / source).mkdir(parents=True, exist_ok=True)
        for j, n in enumerate(counts):
            block = rng.standard_normal((n, dim)).astype(np.float32)
            np.save(root / source / f"{source}_{j}.npy", block)
            written.append(block)
    return np.concatenate(written)


def clustered_rows(rng: np.random.Generator, centers: np.ndarray, n: int) -> np.ndarray:
    """Rows around ``centers``, clusters of uneven sizes (1:7), each with its own spread (0.3 to 0.9)."""
    weights = 1.0 + np.arange(len(centers)) % 7
    which = rng.choice(len(centers), size=n, p=weights / weights.sum())
    spread = 0.3 + (which % 5) * 0.15
    return (centers[which] + rng.standard_normal((n, centers.shape[1])) * spread[:, None]).astype(np.float32)


def sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def mean_sq_distance(centroids: np.ndarray, rows: np.ndarray) -> float:
    index = faiss.IndexFlatL2(rows.shape[1])
    index.add(centroids)
    return float(index.search(rows, 1)[0].mean())


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (MIN_ROWS, 1),  # RVC's formula gives 0 here: 8 // 39
        (38, 1),
        (39, 1),
        (100, 2),
        (10_000, 256),  # the size after k-means: 10000 // 39
        (200_000, 5128),
        (10_000_000, 50596),  # 16 * sqrt(N) is the smaller term
    ],
)
def test_n_ivf(rows: int, expected: int) -> None:
    assert n_ivf(rows) == expected
    assert n_ivf(rows) == max(1, min(int(16 * math.sqrt(rows)), rows // 39))


@pytest.mark.parametrize("rows", [0, 1, MIN_ROWS - 1])
def test_n_ivf_below_minimum(rows: int) -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_ROWS} feature rows, got {rows}"):
        n_ivf(rows)


def test_index_file_name() -> None:
    assert index_file_name("added", 256, "voice", "v1") == "added_IVF256_Flat_nprobe_1_voice_v1.index"
    assert index_file_name("trained", 3, "a_b", "v2") == "trained_IVF3_Flat_nprobe_1_a_b_v2.index"
    with pytest.raises(ValueError, match="kind"):
        index_file_name("total", 3, "a", "v1")


def test_index_over_source_folders(tmp_path: Path) -> None:
    feats = tmp_path / "3_feature256"
    rows = write_features(feats, {"alice": [50, 70], "bob": [30], "carol": [90, 60]})
    added = train_index(feats, tmp_path / "exp", "voice", "v1", seed=3)

    lists = n_ivf(len(rows))
    assert added == tmp_path / "exp" / index_file_name("added", lists, "voice", "v1")
    trained = faiss.read_index(str(tmp_path / "exp" / index_file_name("trained", lists, "voice", "v1")))
    assert trained.is_trained and trained.ntotal == 0
    index = faiss.read_index(str(added))
    assert faiss.extract_index_ivf(index).nprobe == 1
    assert index.nlist == lists and index.ntotal == len(rows)

    # every row of every source is indexed, shuffled, and total_fea.npy holds the same rows
    total = np.load(tmp_path / "exp" / "total_fea.npy")
    stored = index.reconstruct_n(0, index.ntotal)
    np.testing.assert_array_equal(total, stored)
    assert not np.array_equal(total, rows)
    np.testing.assert_array_equal(sorted_rows(total), sorted_rows(rows))

    # an added row is its own nearest neighbour (nprobe 1 still finds it: it lies in its own list)
    distances, labels = index.search(total[[0, 17, 299]], 1)
    np.testing.assert_array_equal(labels[:, 0], [0, 17, 299])
    np.testing.assert_allclose(distances[:, 0], 0, atol=1e-3)
    assert not list((tmp_path / "exp").glob("*.tmp"))


def test_kmeans_above_lowered_threshold_and_seed(tmp_path: Path) -> None:
    feats = tmp_path / "feats"
    write_features(feats, {"a": [300, 300], "b": [200]})
    outputs = []
    for run in ("one", "two", "other_seed"):
        seed = 5 if run == "other_seed" else 0
        added = train_index(feats, tmp_path / run, "x", "v1", seed=seed, kmeans_threshold=500, n_centroids=64)
        outputs.append((np.load(tmp_path / run / "total_fea.npy"), added.read_bytes()))
        assert added.name == index_file_name("added", 1, "x", "v1")  # 64 // 39
    assert outputs[0][0].shape == (64, 256)
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    assert outputs[0][1] == outputs[1][1]
    assert not np.array_equal(outputs[0][0], outputs[2][0])


def test_no_kmeans_at_threshold(tmp_path: Path) -> None:
    write_features(tmp_path / "f", {"a": [500]})
    train_index(tmp_path / "f", tmp_path / "out", "x", "v1", kmeans_threshold=500, n_centroids=64)
    assert np.load(tmp_path / "out" / "total_fea.npy").shape == (500, 256)


def test_explicit_file_list_and_v2(tmp_path: Path) -> None:
    rows = write_features(tmp_path, {"s": [20, 25]}, dim=768)
    files = [tmp_path / "s" / "s_1.npy", tmp_path / "s" / "s_0.npy"]
    added = train_index(files, tmp_path / "out", "e", "v2")
    assert added.name == "added_IVF1_Flat_nprobe_1_e_v2.index"
    assert faiss.read_index(str(added)).ntotal == len(rows)


def test_read_features_keeps_file_order(tmp_path: Path) -> None:
    rows = write_features(tmp_path, {"a": [3, 4], "b": [5]}, dim=4)
    files = [tmp_path / "a" / "a_0.npy", tmp_path / "a" / "a_1.npy", tmp_path / "b" / "b_0.npy"]
    out = read_features(files, 4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, rows)


def test_too_few_rows(tmp_path: Path) -> None:
    write_features(tmp_path / "f", {"a": [MIN_ROWS - 1]})
    with pytest.raises(ValueError, match=f"{MIN_ROWS - 1} feature rows, an index needs at least {MIN_ROWS}"):
        train_index(tmp_path / "f", tmp_path / "out", "x", "v1")
    assert not (tmp_path / "out").exists()


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    write_features(tmp_path / "f", {"a": [20]}, dim=768)
    with pytest.raises(ValueError, match=r"a_0\.npy: expected a float array \[T, 256\]"):
        train_index(tmp_path / "f", tmp_path / "out", "x", "v1")
    with pytest.raises(FileNotFoundError, match="missing"):
        train_index(tmp_path / "missing", tmp_path / "out", "x", "v1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no feature files"):
        train_index(tmp_path / "empty", tmp_path / "out", "x", "v1")
    bad = np.ones((20, 256), np.float32)
    bad[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"nan\.npy contains NaN"):
        train_index([tmp_path / "nan.npy"], tmp_path / "out", "x", "v1")


ENDS_EARLY = "the file ends early: empty or truncated"
A_MODEL = "a zip archive, as a PyTorch model is: the index is the added_IVF…index file"


def test_a_file_that_is_not_an_index_is_named_in_one_line(tmp_path: Path) -> None:
    write_features(tmp_path / "f", {"a": [MIN_ROWS]})
    index = train_index(tmp_path / "f", tmp_path / "out", "x", "v1")
    torch.save({"weight": torch.zeros(4)}, tmp_path / "model.pth")
    (tmp_path / "empty.index").write_bytes(b"")
    (tmp_path / "cut.index").write_bytes(index.read_bytes()[:200])
    (tmp_path / "noise.index").write_bytes(bytes([1, 2, 3, 4]) * 64)
    reasons = {
        "model.pth": A_MODEL,
        "empty.index": ENDS_EARLY,
        "cut.index": ENDS_EARLY,
        "noise.index": r'Index type 0x04030201 ("\x01\x02\x03\x04") not recognized',
    }
    for name, reason in reasons.items():
        with pytest.raises(ValueError) as refused:
            read_index(tmp_path / name)
        assert str(refused.value) == f"{tmp_path / name}: not a faiss index ({reason})"
    assert read_index(index).ntotal == MIN_ROWS


def test_conversion_names_an_index_that_is_not_one(voice: dict[str, Path], tmp_path: Path, capsys) -> None:  # noqa: F811
    out = tmp_path / "converted.wav"
    cli = ["convert", str(voice["model"]), str(voice["input"]), str(out), "--hubert-standin", "tiny"]
    assert main([*cli, "--index", str(voice["model"])]) == 1
    assert capsys.readouterr().err == f"rvc-pipeline convert: error: {voice['model']}: not a faiss index ({A_MODEL})\n"
    # The workflow's convert_audio job, whose index folder holds a cut index.
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    cut = index_dir / voice["index"].name
    cut.write_bytes(voice["index"].read_bytes()[:200])
    with pytest.raises(ValueError) as refused:
        convert_recording(voice["model"], index_dir, voice["input"], out, settings={}, standin="tiny")
    assert str(refused.value) == f"{cut}: not a faiss index ({ENDS_EARLY})"
    assert not out.exists()


def test_two_level_kmeans_as_good_as_flat_kmeans_on_held_out_rows() -> None:
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((40, 32)) * 2
    train, held_out = clustered_rows(rng, centers, 12_000), clustered_rows(rng, centers, 4_000)
    ours = reduce_kmeans(train, 200, seed=0, iterations=10, points_per_centroid=256)
    assert ours.shape == (200, 32) and ours.dtype == np.float32
    flat = faiss.Kmeans(32, 200, niter=20, seed=0, max_points_per_centroid=len(train))
    flat.train(train)
    ours_mse, flat_mse = mean_sq_distance(ours, held_out), mean_sq_distance(flat.centroids, held_out)
    assert ours_mse <= 1.01 * flat_mse  # one iteration per level would give 1.04
    # and far better than 200 training rows taken as they are
    assert ours_mse < 0.6 * mean_sq_distance(train[:200], held_out)


def test_two_level_kmeans_independent_of_threads_and_exact_count() -> None:
    rng = np.random.default_rng(3)
    # uneven clusters; 50 centroids make 7 coarse cells whose shares must still add up to 50
    rows = clustered_rows(rng, rng.standard_normal((9, 16)) * 3, 3_000)[rng.permutation(3_000) < 2_000]
    one = reduce_kmeans(rows, 50, seed=4, iterations=5, points_per_centroid=64, threads=1)
    three = reduce_kmeans(rows, 50, seed=4, iterations=5, points_per_centroid=64, threads=3)
    assert one.shape == (50, 16)
    assert one.tobytes() == three.tobytes()
    assert len(np.unique(one, axis=0)) == 50
    assert not np.array_equal(one, reduce_kmeans(rows, 50, seed=5, iterations=5, points_per_centroid=64))


def test_kmeans_to_as_many_centroids_as_rows_keeps_the_rows() -> None:
    rows = np.random.default_rng(2).standard_normal((60, 8)).astype(np.float32)
    centroids = reduce_kmeans(rows, 60, seed=0, iterations=5, points_per_centroid=64)
    np.testing.assert_array_equal(sorted_rows(centroids), sorted_rows(rows))
    with pytest.raises(ValueError, match="cannot reduce 60 feature rows to 61 centroids"):
        reduce_kmeans(rows, 61, seed=0, iterations=5, points_per_centroid=64)
