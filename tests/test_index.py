import math
from pathlib import Path

import faiss
import numpy as np
import pytest

from rvc_pipeline.index import MIN_ROWS, index_file_name, n_ivf, read_features, train_index


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
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_array_equal(order(total), order(rows))

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
