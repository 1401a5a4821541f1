from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rvc_pipeline.features.extract import extract_features_dir, extract_features_source
from rvc_pipeline.features.hubert import HubertFeatureModel, load_hubert

SR = 16000


def write_wavs(folder, lengths: dict[str, int]) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    audio = {name: (0.2 * rng.standard_normal(n)).astype(np.float32) for name, n in lengths.items()}
    for name, samples in audio.items():
        sf.write(folder / f"{name}.wav", samples, SR, subtype="FLOAT")
    return audio


@pytest.mark.parametrize("version, dim", [("v1", 256), ("v2", 768)])
def test_writes_one_feature_file_per_wav(tmp_path, version, dim):
    audio = write_wavs(tmp_path / "wavs", {"src_0": 59200, "src_2": 16000})
    problems = extract_features_dir(tmp_path / "wavs", tmp_path / "feats", weights=None, version=version, standin="tiny")
    assert problems == []
    assert sorted(p.name for p in (tmp_path / "feats").iterdir()) == ["src_0.npy", "src_2.npy"]
    model = load_hubert(None, standin="tiny")
    for name, samples in audio.items():
        features = np.load(tmp_path / "feats" / f"{name}.npy")
        assert features.dtype == np.float32
        assert features.shape == ((len(samples) - 400) // 320 + 1, dim)
        np.testing.assert_array_equal(features, model.extract(samples, version))


def test_nan_and_too_short_are_reported_not_written(tmp_path, monkeypatch, caplog):
    write_wavs(tmp_path / "wavs", {"ok_0": 8000, "nan_1": 8320, "short_2": 399})
    extract = HubertFeatureModel.extract

    def nan_for_8320_samples(self, wav, version):
        features = extract(self, wav, version)
        return np.full_like(features, np.nan) if len(wav) == 8320 else features

    monkeypatch.setattr(HubertFeatureModel, "extract", nan_for_8320_samples)
    problems = extract_features_dir(tmp_path / "wavs", tmp_path / "feats", weights=None, version="v1", standin="tiny")
    assert sorted(p.name for p in (tmp_path / "feats").iterdir()) == ["ok_0.npy"]
    reasons = {Path(p["file"]).name: p["reason"] for p in problems}
    assert set(reasons) == {"nan_1.wav", "short_2.wav"}
    assert "NaN" in reasons["nan_1.wav"] and "too short" in reasons["short_2.wav"]
    assert "nan_1.wav" in caplog.text


def test_other_sample_rate_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "wavs").mkdir()
    sf.write(tmp_path / "wavs" / "loud_0.wav", np.zeros(8000, np.float32), 40000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"loud_0\.wav.*40000"):
        extract_features_dir(tmp_path / "wavs", tmp_path / "feats", weights=None, version="v1", standin="tiny")


def test_standin_use_is_logged(tmp_path, caplog):
    write_wavs(tmp_path / "wavs", {"a_0": 4000})
    extract_features_dir(tmp_path / "wavs", tmp_path / "feats", weights=None, version="v2", standin="tiny")
    assert "stand-in" in caplog.text


def test_source_report_and_empty_source(tmp_path):
    write_wavs(tmp_path / "wavs", {"a_0": 4000, "a_1": 100})
    (tmp_path / "none").mkdir()
    kwargs = {"weights": None, "version": "v1", "standin": "tiny"}
    extract_features_source(tmp_path / "wavs", tmp_path / "feats", tmp_path / "r.tsv", **kwargs)
    lines = (tmp_path / "r.tsv").read_text().splitlines()
    assert lines[0] == "file\treason" and len(lines) == 2 and lines[1].startswith(str(tmp_path / "wavs" / "a_1.wav"))
    assert extract_features_source(tmp_path / "none", tmp_path / "empty", tmp_path / "e.tsv", **kwargs) == []
    assert (tmp_path / "empty").is_dir() and not any((tmp_path / "empty").iterdir())
    assert (tmp_path / "e.tsv").read_text() == "file\treason\n"
