"""Every dataset is registered, runs through the runner, and the data verb reports and fails clearly."""

import json

import numpy as np
import pytest

from setbench.benchmarks import DATASETS, expand, get_profile, make_algorithm
from setbench.benchmarks.cli import main
from setbench.benchmarks.registry import DATASET_INFO
from setbench.datasets import SOURCES, DigitsConfig, digits
from setbench.protocol import TrainConfig, mean_jaccard, top_k_subsets


def test_every_table1_dataset_and_its_source_is_registered():
    paper = {"gaussian", "moons", "celeba", "bindingdb", "pdbbind"} | {f"amazon_{c}" for c in (
        "apparel", "bath", "bedding", "carseats", "diaper", "feeding", "furniture", "gear", "health", "media",
        "safety", "toys")}
    assert paper <= set(DATASETS) and set(DATASETS) == set(DATASET_INFO)
    assert not DATASET_INFO["digits"].in_paper and DATASET_INFO["digits"].note
    for name, info in DATASET_INFO.items():
        assert info.source is None or name in SOURCES[info.source].datasets


def test_default_profile_runs_digits_and_paper_profile_adds_present_data(tmp_path):
    assert "digits" in {job.dataset for job in expand(get_profile("default"))}
    jobs = expand(get_profile("paper"), data_root=tmp_path)
    assert {job.dataset for job in jobs} == {"gaussian", "moons"}  # digits is not in the paper
    (tmp_path / "bindingdb").mkdir()
    (tmp_path / "bindingdb" / "bindingdb_kd.tab").write_text("ID1\tX1\tID2\tX2\tY\n")
    jobs = expand(get_profile("paper"), data_root=tmp_path)
    bindingdb = [job for job in jobs if job.dataset == "bindingdb"]
    assert bindingdb and bindingdb[0].train["batch_size"] == 4  # the paper's per-dataset batch
    override = expand(get_profile("paper"), data_root=tmp_path, datasets=["bindingdb"],
                      train_overrides={"batch_size": 2})
    assert override[0].train["batch_size"] == 2  # the command line wins


def test_missing_real_data_is_one_clear_error_before_any_job(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--profile", "smoke", "--datasets", "celeba", "--data-dir", str(tmp_path / "data"),
                 "--results", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dataset celeba needs CelebA" in err[0] and "setbench.benchmarks data celeba" in err[0]
    assert not out.exists()


def test_data_verb_reports_and_fails_offline_with_one_line(tmp_path, capsys, monkeypatch):
    assert main(["data", "--data-dir", str(tmp_path)]) == 0
    report = capsys.readouterr().out
    for source in SOURCES:
        assert f"\n{source} " in "\n" + report
    assert "absent" in report
    assert main(["data", "nope", "--data-dir", str(tmp_path)]) == 2
    assert "unknown data source 'nope'; choose from amazon, celeba, bindingdb, pdbbind or all" in capsys.readouterr().err
    import dataclasses

    from setbench.datasets import download

    remote = dataclasses.replace(SOURCES["pdbbind"].files[0], url="http://127.0.0.1:9/pdbbind_v2015.tar.gz")
    monkeypatch.setitem(download.SOURCES, "pdbbind", dataclasses.replace(SOURCES["pdbbind"], files=(remote,)))
    assert main(["data", "pdbbind", "--data-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "http://127.0.0.1:9/pdbbind_v2015.tar.gz" in err[0] and str(tmp_path / "pdbbind") in err[0]


TINY = {"model": {"embed_dim": 16, "hidden_dim": 32}, "mean_field": {"samples": 3}}


@pytest.mark.slow
@pytest.mark.parametrize("name, epochs, n_train, margin", [("DiffMF", 3, 192, 10), ("iDiffMF_2", 1, 64, None)])
def test_digits_trains_through_the_image_encoder(name, epochs, n_train, margin):
    """The image-encoder path end to end, in both frameworks: contract and deterministic re-scoring;
    DiffMF (the cheaper one on a CPU) also beats chance. iDiffMF_2 needs more epochs than CI affords
    to do so. (Same seed → same fit is checked for every algorithm by tests/test_conformance.py.)"""
    data = digits(DigitsConfig(v_size=6, n_train=n_train, n_valid=32, n_test=64), seed=0)
    train = TrainConfig(max_epochs=epochs, batch_size=32, eval_batch_size=64, learning_rate=3e-3, patience=3)
    first = make_algorithm(name, train, TINY).fit(data.train, data.valid, seed=0, progress=False)
    predicted = first.predict(data.test)
    assert predicted.shape == data.test.optimal.shape and (predicted.sum(1) == data.test.subset_sizes).all()
    np.testing.assert_array_equal(predicted, first.predict(data.test))
    chance = mean_jaccard(top_k_subsets(np.random.default_rng(0).random(predicted.shape), data.test.subset_sizes,
                                        data.test.mask), data.test.optimal)
    if margin is not None:
        assert mean_jaccard(predicted, data.test.optimal) > chance + margin


@pytest.mark.slow
def test_smoke_sweep_on_digits_writes_a_marked_table_row(tmp_path):
    argv = ["run", "--profile", "smoke", "--results", str(tmp_path), "--algorithms", "DiffMF",
            "--datasets", "digits", "--no-progress"]
    assert main(argv) == 0
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert record["status"] == "ok" and record["dataset"] == "digits"
    table = (tmp_path / "table1-smoke.md").read_text()
    assert "| digits (not in the paper) | setbench |" in table and "digits is **not in the paper**" in table


def test_amazon_datasets_read_the_downloaded_archive_by_default(tmp_path):
    import pickle

    from setbench.benchmarks import load_dataset

    folder = tmp_path / "data" / "amazon"
    folder.mkdir(parents=True)
    with pytest.raises(Exception, match="dataset amazon_toys needs Amazon baby registries.*data amazon"):
        load_dataset("amazon_toys", 0, {"path": str(folder)})
    rng = np.random.default_rng(0)
    (folder / "toys.pickle").write_bytes(pickle.dumps({i: rng.standard_normal(768) for i in range(1, 41)}))
    (folder / "toys.csv").write_text("\n".join(",".join(map(str, rng.choice(np.arange(1, 41), 5, replace=False)))
                                               for _ in range(12)) + "\n")
    job = next(j for j in expand(get_profile("default"), datasets=["amazon_toys"], data_root=tmp_path / "data"))
    assert job.data_options == {"path": str(folder.resolve())}
    data = load_dataset("amazon_toys", 0, job.data_options)
    assert data.name == "amazon_toys" and data.train.features.shape == (40, 768)


def test_a_registry_file_feeds_only_its_category_and_a_folder_feeds_all(tmp_path):
    """`--amazon FILE` (one category's registries) must not stand in for the other eleven categories."""
    data = tmp_path / "data"
    (data / "amazon").mkdir(parents=True)
    from setbench.datasets import SOURCES

    for name in SOURCES["amazon"].expects:  # the extracted archive, present: every category is planned
        (data / "amazon" / name).write_text("")
    registry = tmp_path / "apparel_regs.csv"
    registry.write_text("1 2 3\n")
    paths = {job.dataset: job.data_options["path"]
             for job in expand(get_profile("paper-fixed"), amazon=str(registry), data_root=data)
             if job.dataset.startswith("amazon_")}
    assert paths["amazon_apparel"] == str(registry.resolve())
    assert paths["amazon_toys"] == paths["amazon_bath"] == str((data / "amazon").resolve())
    named = expand(get_profile("default"), amazon=str(registry), datasets=["amazon_toys"], data_root=data)
    assert {job.data_options["path"] for job in named} == {str(registry.resolve())}
    archive = tmp_path / "archive"
    archive.mkdir()
    paths = {job.dataset: job.data_options["path"]
             for job in expand(get_profile("paper-fixed"), amazon=str(archive), data_root=data)
             if job.dataset.startswith("amazon_")}
    assert paths["amazon_apparel"] == paths["amazon_toys"] == str(archive.resolve())
