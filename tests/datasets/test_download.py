"""Downloads: atomic fetch, checksums recorded then verified, safe extraction, fast offline failure.

The Amazon archive is built here in its real format (a zip of ``<category>.pickle`` + ``<category>.csv``)
and fetched through a ``file://`` URL, so the whole path runs offline.
"""

import dataclasses
import pickle
import zipfile

import numpy as np
import pytest

from setbench.datasets import SOURCES, AmazonConfig, DataFileError, DownloadError, fetch, load_amazon_archive
from setbench.datasets import source_status
from setbench.datasets.amazon import CATEGORIES


def _amazon_zip(path, n_items=40, dim=6):
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as bundle:
        for category in CATEGORIES:
            vectors = {i: rng.standard_normal(dim).astype(np.float32) for i in range(1, n_items + 1)}
            bundle.writestr(f"{category}.pickle", pickle.dumps(vectors))
            rows = [",".join(str(v) for v in rng.choice(np.arange(1, n_items + 1), rng.integers(3, 9), replace=False))
                    for _ in range(30)]
            bundle.writestr(f"{category}.csv", "\n".join(rows) + "\n")
    return path


def _local_amazon(archive):
    remote = dataclasses.replace(SOURCES["amazon"].files[0], url=archive.as_uri(), drive_id=None)
    return dataclasses.replace(SOURCES["amazon"], files=(remote,))


def _leftovers(folder):
    return [p.name for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".extract-")]


def test_fetch_extracts_records_checksum_and_the_loader_reads_every_category(tmp_path):
    source = _local_amazon(_amazon_zip(tmp_path / "upstream.zip"))
    root = tmp_path / "data"
    status = fetch(source, root, progress=False)
    assert status.ready and status.files == {"amazon_baby_registry.zip": "present, checksum recorded"}
    recorded = (root / "amazon" / "SHA256SUMS").read_text().split()
    assert len(recorded[0]) == 64 and recorded[1] == "amazon_baby_registry.zip"
    for category in CATEGORIES:
        data = load_amazon_archive(root / "amazon", category, AmazonConfig(item_dim=6), seed=0)
        assert data.train.v_size == 30 and data.train.features.shape == (40, 6)
    assert fetch(source, root, progress=False).ready  # verified again, nothing downloaded
    assert not _leftovers(root)


def test_a_changed_archive_fails_its_recorded_checksum(tmp_path):
    source = _local_amazon(_amazon_zip(tmp_path / "upstream.zip"))
    root = tmp_path / "data"
    fetch(source, root, progress=False)
    archive = root / "amazon" / "amazon_baby_registry.zip"
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DataFileError, match="amazon_baby_registry.zip: SHA-256 .* differs from the one recorded"):
        fetch(source, root, progress=False)


def test_a_truncated_archive_placed_by_hand_is_refused_and_nothing_is_extracted(tmp_path):
    upstream = _amazon_zip(tmp_path / "upstream.zip")
    folder = tmp_path / "data" / "amazon"
    folder.mkdir(parents=True)
    (folder / "amazon_baby_registry.zip").write_bytes(upstream.read_bytes()[: upstream.stat().st_size // 2])
    with pytest.raises(DataFileError, match="amazon_baby_registry.zip: corrupt or truncated archive"):
        fetch(_local_amazon(upstream), tmp_path / "data", progress=False)
    assert not _leftovers(folder) and not list(folder.glob("*.pickle"))


def test_a_bad_archive_records_no_checksum_so_a_good_one_is_accepted_after_it(tmp_path):
    upstream = _amazon_zip(tmp_path / "upstream.zip")
    folder = tmp_path / "data" / "amazon"
    folder.mkdir(parents=True)
    (folder / "amazon_baby_registry.zip").write_bytes(b"<html>quota exceeded</html>")
    with pytest.raises(DataFileError, match="corrupt or truncated archive"):
        fetch(_local_amazon(upstream), tmp_path / "data", progress=False)
    assert not (folder / "SHA256SUMS").exists()
    (folder / "amazon_baby_registry.zip").unlink()  # as the message says: delete it and download again
    assert fetch(_local_amazon(upstream), tmp_path / "data", progress=False).ready


def test_a_killed_extraction_is_cleaned_up_and_deleted_files_are_extracted_again(tmp_path):
    source = _local_amazon(_amazon_zip(tmp_path / "upstream.zip"))
    root = tmp_path / "data"
    fetch(source, root, progress=False)
    folder = root / "amazon"
    stale = folder / ".extract-amazon_baby_registry.zip.dead"
    stale.mkdir()
    (stale / "toys.pickle").write_bytes(b"partial")
    (folder / "toys.csv").unlink()
    assert not source_status(source, root).ready
    assert fetch(source, root, progress=False).ready  # the marker alone does not skip extraction
    assert (folder / "toys.csv").is_file() and not _leftovers(folder)


def test_offline_download_fails_fast_naming_url_and_folder(tmp_path):
    remote = dataclasses.replace(SOURCES["bindingdb"].files[0], url="http://127.0.0.1:9/bindingdb_kd.tab")
    source = dataclasses.replace(SOURCES["bindingdb"], files=(remote,))
    with pytest.raises(DownloadError) as error:
        fetch(source, tmp_path, progress=False)
    message = str(error.value)
    assert "http://127.0.0.1:9/bindingdb_kd.tab" in message and str(tmp_path / "bindingdb") in message
    assert not list((tmp_path / "bindingdb").iterdir())  # no partial file


def test_files_placed_by_hand_need_no_download(tmp_path):
    folder = tmp_path / "bindingdb"
    folder.mkdir()
    (folder / "bindingdb_kd.tab").write_text("ID1\tX1\tID2\tX2\tY\n")
    remote = dataclasses.replace(SOURCES["bindingdb"].files[0], url="http://127.0.0.1:9/never")
    status = fetch(dataclasses.replace(SOURCES["bindingdb"], files=(remote,)), tmp_path, progress=False)
    assert status.ready and (folder / "SHA256SUMS").is_file()
    assert not source_status(SOURCES["celeba"], tmp_path).ready


def test_unsafe_archive_members_are_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as bundle:
        bundle.writestr("../outside.txt", "x")
    with pytest.raises(DataFileError, match="refusing to extract '../outside.txt'"):
        fetch(_local_amazon(evil), tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "outside.txt").exists()


def test_google_drive_files_go_through_gdown_into_a_part_file(tmp_path, monkeypatch):
    gdown = pytest.importorskip("gdown", reason="Google-Drive downloads use gdown")
    upstream = _amazon_zip(tmp_path / "upstream.zip")
    calls = []

    def fake_download(*, id, output, quiet, timeout):
        calls.append((id, output))
        assert timeout > 0  # a silent network must not hang the command
        assert output.endswith("amazon_baby_registry.zip.part")
        with open(output, "wb") as out:
            out.write(upstream.read_bytes())
        return output

    monkeypatch.setattr(gdown, "download", fake_download)
    status = fetch(SOURCES["amazon"], tmp_path / "data", progress=False)
    assert status.ready and calls == [("1OLbCOTsRyowxw3_AzhxJPVB8VAgjt2Y6", calls[0][1])]

    def refused(*, id, output, quiet, timeout):
        with open(output, "wb") as out:
            out.write(b"<html>quota exceeded</html>")  # a partial answer, then failure
        raise RuntimeError("Too many users have viewed or downloaded this file recently")

    monkeypatch.setattr(gdown, "download", refused)
    with pytest.raises(DownloadError, match=r"could not download list_attr_celeba.txt from "
                                            r"https://drive.google.com/file/d/0B7EVK8r0v71pblRyaVFSWGxPY0U/view "
                                            r"\(RuntimeError: Too many users"):
        fetch(SOURCES["celeba"], tmp_path / "data", progress=False)
    assert not list((tmp_path / "data" / "celeba").glob("*.part"))
