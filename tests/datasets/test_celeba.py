"""CelebA: list_attr_celeba.txt + JPEGs in the real layout; set construction, images, cache, errors."""

import numpy as np
import pytest

from setbench.datasets import CelebAConfig, DataFileError, load_celeba, read_attributes
from setbench.datasets.celeba import decode_image

PIL = pytest.importorskip("PIL.Image", reason="decoding JPEGs needs Pillow")

NAMES = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
         "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
         "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
         "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
         "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()
N_IMAGES = 60


def _write_celeba(root, labels):
    """The real layout: list_attr_celeba.txt (count, names, aligned ±1 rows) and img_align_celeba/*.jpg."""
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    rows = []
    for i, row in enumerate(labels):
        name = f"{i + 1:06d}.jpg"
        colour = (i * 4 % 256, 255 - i * 4 % 256, 100)
        PIL.new("RGB", (178, 218), colour).save(images / name, quality=95)
        rows.append(name + " " + " ".join(f"{1 if v else -1:2d}" for v in row))
    (root / "list_attr_celeba.txt").write_text(f"{len(labels)}\n" + " ".join(NAMES) + " \n" + "\n".join(rows) + "\n")


@pytest.fixture
def celeba_root(tmp_path):
    labels = np.random.default_rng(0).random((N_IMAGES, len(NAMES))) < 0.6
    labels[:10] = False  # some images have no attribute at all: never anchors, always anomaly candidates
    _write_celeba(tmp_path / "celeba", labels)
    return tmp_path / "celeba", labels


SMALL = CelebAConfig(n_train=20, n_valid=6, n_test=6)


def test_attribute_file_is_read_with_all_forty_attributes(celeba_root):
    root, labels = celeba_root
    names, files, read = read_attributes(root / "list_attr_celeba.txt")
    assert names == tuple(NAMES) and files[0] == "000001.jpg" and len(files) == N_IMAGES
    np.testing.assert_array_equal(read, labels)


def test_sets_share_two_attributes_and_anomalies_have_neither(celeba_root):
    root, labels = celeba_root
    data = load_celeba(root, SMALL, seed=2)
    _, files, _ = read_attributes(root / "list_attr_celeba.txt")
    for split in data.splits().values():
        assert split.item_kind == "image" and split.item_shape == (3, 64, 64)
        assert set(np.unique(split.subset_sizes)) <= {2, 3} and split.mask.all()
        # map item rows back to image ids through the pixels' colour (each image has its own colour)
        red = np.round((split.features[:, 0, 32, 32] + 1) * 127.5).astype(int)
        image_of_row = {row: next(i for i in range(N_IMAGES) if abs(i * 4 % 256 - r) <= 2 and
                                  abs(255 - i * 4 % 256 - round((split.features[row, 1, 32, 32] + 1) * 127.5)) <= 2)
                        for row, r in enumerate(red)}
        for ground, optimal in zip(split.ground_sets, split.optimal):
            ids = np.array([image_of_row[g] for g in ground])
            assert len(set(ids)) == 8
            shared = labels[ids[~optimal]].all(axis=0)
            absent = ~labels[ids[optimal]].any(axis=0)
            assert (shared & absent).sum() >= 2  # the two drawn attributes


def test_images_are_resized_cropped_and_scaled(celeba_root, tmp_path):
    root, _ = celeba_root
    pixels = decode_image(root / "img_align_celeba" / "000002.jpg", 64)
    assert pixels.shape == (3, 64, 64) and pixels.dtype == np.uint8
    assert abs(int(pixels[0].mean()) - 4) <= 2 and abs(int(pixels[1].mean()) - 251) <= 2
    stripes = np.zeros((218, 178, 3), np.uint8)
    stripes[:109] = 255  # top half white: the centre crop of the 64x78 resize keeps rows 7..70
    PIL.fromarray(stripes).save(tmp_path / "stripes.png")
    cropped = decode_image(tmp_path / "stripes.png", 64)
    assert cropped[:, :25].min() == 255 and cropped[:, -25:].max() == 0
    data = load_celeba(root, SMALL, seed=0)
    assert data.train.features.min() >= -1 and data.train.features.max() <= 1


def test_determinism_and_the_pixel_cache(celeba_root):
    root, _ = celeba_root
    first = load_celeba(root, SMALL, seed=4)
    cached = list((root / ".cache").glob("images-64px-*.npy"))
    assert len(cached) == 1 and not list((root / ".cache").glob("*.part"))
    again = load_celeba(root, SMALL, seed=4)
    for a, b in zip(first.splits().values(), again.splits().values()):
        np.testing.assert_array_equal(a.ground_sets, b.ground_sets)
        np.testing.assert_array_equal(a.optimal, b.optimal)
        np.testing.assert_array_equal(a.features, b.features)
    assert not np.array_equal(load_celeba(root, SMALL, seed=5).train.optimal, first.train.optimal)


def test_corrupt_truncated_and_missing_files_name_the_file(celeba_root):
    root, _ = celeba_root
    attributes = root / "list_attr_celeba.txt"
    lines = attributes.read_text().splitlines()
    attributes.write_text("\n".join(lines[:-5]) + "\n")
    with pytest.raises(DataFileError, match=f"list_attr_celeba.txt:1: announces {N_IMAGES} images but "
                                            f"{N_IMAGES - 5} rows follow"):
        load_celeba(root, SMALL)
    attributes.write_text("\n".join(lines[:3] + [lines[3].replace("-1", "-2", 1)] + lines[4:]) + "\n")
    with pytest.raises(DataFileError, match="list_attr_celeba.txt:4: attribute value '-2' is not 1 or -1"):
        load_celeba(root, SMALL)
    attributes.write_text("\n".join(lines) + "\n")
    for image in (root / "img_align_celeba").glob("*.jpg"):
        image.write_bytes(image.read_bytes()[:20])  # truncated JPEGs
    with pytest.raises(DataFileError, match=r"img_align_celeba/0000\d\d.jpg: not a readable image"):
        load_celeba(root, SMALL)
    assert not (root / ".cache").exists()  # nothing half-written
    with pytest.raises(DataFileError, match="no file named list_attr_celeba.txt"):
        load_celeba(root / "img_align_celeba", SMALL)
