"""CelebA set anomaly detection (Ou et al. 2022; Table 1 of the paper).

Source files (the aligned-and-cropped release of Liu et al. 2015):

* ``list_attr_celeba.txt`` — line 1: the number of images ``n``; line 2: the 40 attribute names;
  then ``n`` lines ``<image file> <40 values in {-1, 1}>``, whitespace-separated.
* ``img_align_celeba/<image file>`` — the JPEG images (178 × 218).

A ground set (Ou et al.): draw a random image with at least two attributes and two of its
attributes at random; ``|V| = 8`` images are drawn among those having **both** attributes, then
``|S*| ∈ {2, 3}`` random positions are replaced by images having **neither** (the anomalies);
draws whose pools are too small are rejected. 10000 / 1000 / 1000 sets, each split from its own
generator spawned from ``seed``, all drawn from the whole image list as in the published setup.
All 40 attributes are used (the published reader drops the last column, ``Young``, by a parsing
quirk).

Images are stored once (``item_kind = "image"``): float32 ``[3, 64, 64]`` in [-1, 1], obtained as
torchvision's ``Resize(64)`` (shorter side to 64, bilinear) then ``CenterCrop(64)`` and
``Normalize(0.5, 0.5)``. Only images used by some set are decoded; the decoded uint8 pixels are
cached under ``<root>/.cache/`` (atomic write, keyed by the image list) so that later jobs skip the
decoding. Pillow is imported only to decode.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from .amazon import DataFileError
from .files import atomic_output, find_visible
from .split import SetData, SetSplit

__all__ = ["CelebAConfig", "read_attributes", "sample_sets", "decode_image", "load_celeba"]

_SPLITS = ("train", "valid", "test")
_MAX_DRAWS_PER_SET = 10_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class CelebAConfig:
    """Sizes of the CelebA task (defaults: the paper's, App. I).

    Attributes:
        v_size: ``|V|``, images per ground set.
        s_min, s_max: ``|S*|`` is drawn uniformly from ``s_min..s_max``.
        n_train, n_valid, n_test: sets per split.
        image_size: side of the square images after resize and centre crop.
    """

    v_size: int = 8
    s_min: int = 2
    s_max: int = 3
    n_train: int = 10000
    n_valid: int = 1000
    n_test: int = 1000
    image_size: int = 64

    def __post_init__(self):
        for field in ("v_size", "s_min", "s_max", "n_train", "n_valid", "n_test", "image_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"CelebAConfig.{field} must be a positive integer, got {value!r}")
        if not self.s_min <= self.s_max < self.v_size:
            raise ValueError(f"CelebAConfig needs s_min <= s_max < v_size, got s_min={self.s_min}, "
                             f"s_max={self.s_max}, v_size={self.v_size}")


def read_attributes(path: str | Path) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """Parse ``list_attr_celeba.txt``.

    Returns:
        ``(attribute names, image file names, labels)``; labels bool ``[n_images, n_attributes]``.

    Raises:
        DataFileError: naming the file and line of a wrong count, a short row or a value not ±1.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 3:
        raise DataFileError(f"{path}: expected a count line, an attribute-name line and image rows")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataFileError(f"{path.name}:1: expected the number of images, got {lines[0].strip()[:40]!r}") from None
    names = tuple(lines[1].split())
    rows = lines[2:]
    if len(rows) != count:
        raise DataFileError(f"{path.name}:1: announces {count} images but {len(rows)} rows follow "
                            f"(the file may be truncated)")
    files, labels = [], np.zeros((count, len(names)), dtype=bool)
    for i, line in enumerate(rows):
        tokens = line.split()
        if len(tokens) != len(names) + 1:
            raise DataFileError(f"{path.name}:{i + 3}: {len(tokens) - 1} attribute values, expected {len(names)}")
        values = tokens[1:]
        bad = next((v for v in values if v not in ("1", "-1")), None)
        if bad is not None:
            raise DataFileError(f"{path.name}:{i + 3}: attribute value {bad!r} is not 1 or -1")
        files.append(tokens[0])
        labels[i] = [v == "1" for v in values]
    return names, tuple(files), labels


def sample_sets(labels: np.ndarray, n_sets: int, config: CelebAConfig, rng: np.random.Generator,
                name: str) -> tuple[np.ndarray, np.ndarray]:
    """Ou et al.'s construction (module docstring) on an attribute matrix.

    Args:
        labels: bool ``[n_images, n_attributes]``.

    Returns:
        ``(ground, optimal)``: int64 ``[n_sets, |V|]`` image indices and bool ``[n_sets, |V|]``.
    """
    n_images = labels.shape[0]
    columns = np.ascontiguousarray(labels.T)  # one contiguous row per attribute: fast pool lookups
    ground = np.empty((n_sets, config.v_size), dtype=np.int64)
    optimal = np.zeros((n_sets, config.v_size), dtype=bool)
    for row in range(n_sets):
        for _ in range(_MAX_DRAWS_PER_SET):
            anchor = rng.integers(n_images)
            present = np.flatnonzero(labels[anchor])
            if present.size < 2:
                continue
            pair = rng.choice(present, size=2, replace=False)
            s_size = int(rng.integers(config.s_min, config.s_max + 1))
            both = np.flatnonzero(columns[pair[0]] & columns[pair[1]])
            neither = np.flatnonzero(~(columns[pair[0]] | columns[pair[1]]))
            if both.size < config.v_size or neither.size < s_size:
                continue
            members = rng.choice(both, size=config.v_size, replace=False)
            positions = rng.choice(config.v_size, size=s_size, replace=False)
            members[positions] = rng.choice(neither, size=s_size, replace=False)
            ground[row] = members
            optimal[row, positions] = True
            break
        else:
            raise DataFileError(f"{name}: no attribute pair gives {config.v_size} images with both attributes and "
                                f"{config.s_max} with neither after {_MAX_DRAWS_PER_SET} draws (too few images?)")
    return ground, optimal


def decode_image(path: Path, size: int) -> np.ndarray:
    """uint8 ``[3, size, size]``: shorter side resized to ``size`` (bilinear), then centre-cropped.

    Matches torchvision's ``Resize(size)`` + ``CenterCrop(size)`` on PIL images.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            width, height = image.size
            if width <= height:
                new_w, new_h = size, int(size * height / width)
            else:
                new_w, new_h = int(size * width / height), size
            image = image.resize((new_w, new_h), Image.BILINEAR)
            top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
            image = image.crop((left, top, left + size, top + size))
            pixels = np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise DataFileError(f"{path}: not a readable image ({err})") from None
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _decoded(image_dir: Path, files: list[str], size: int, cache_dir: Path) -> np.ndarray:
    """uint8 ``[n, 3, size, size]`` of ``files``, from the cache when it holds exactly this list."""
    key = hashlib.sha256(("\n".join(files) + f"\n{size}").encode()).hexdigest()[:16]
    cache = cache_dir / f"images-{size}px-{key}.npy"
    if cache.is_file():
        try:
            pixels = np.load(cache)
            if pixels.shape == (len(files), 3, size, size) and pixels.dtype == np.uint8:
                return pixels
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt
    from tqdm.auto import tqdm

    pixels = np.empty((len(files), 3, size, size), dtype=np.uint8)
    for i, file in enumerate(tqdm(files, desc="decode CelebA images", unit="img", leave=False,
                                  disable=len(files) < 1000)):
        path = image_dir / file
        if not path.is_file():
            raise DataFileError(f"{path}: image listed in list_attr_celeba.txt is missing")
        pixels[i] = decode_image(path, size)
    with atomic_output(cache) as out:
        np.save(out, pixels)
    return pixels


def _find(root: Path, name: str, directory: bool = False) -> Path:
    found = [p for p in find_visible(root, name) if (p.is_dir() if directory else p.is_file())]
    if not found:
        raise DataFileError(f"{root}: no {'folder' if directory else 'file'} named {name} (expected the CelebA "
                            f"files list_attr_celeba.txt and img_align_celeba/)")
    return found[0]


def load_celeba(root: str | Path, config: CelebAConfig = CelebAConfig(), *, seed: int = 0,
                name: str = "celeba") -> SetData:
    """Ground sets of CelebA images (see module docstring).

    Args:
        root: folder holding (at any depth) ``list_attr_celeba.txt`` and ``img_align_celeba/``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"{root}: folder not found")
    attributes_path = _find(root, "list_attr_celeba.txt")
    image_dir = _find(root, "img_align_celeba", directory=True)
    _, files, labels = read_attributes(attributes_path)
    sizes = (config.n_train, config.n_valid, config.n_test)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_SPLITS))]
    drawn = [sample_sets(labels, n, config, rng, f"{name}/{split}") for split, n, rng in zip(_SPLITS, sizes, rngs)]
    used = np.unique(np.concatenate([g.reshape(-1) for g, _ in drawn]))
    pixels = _decoded(image_dir, [files[i] for i in used], config.image_size, root / ".cache")
    features = pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    splits = [
        SetSplit(features=features, ground_sets=np.searchsorted(used, ground), mask=np.ones_like(optimal),
                 optimal=optimal, name=f"{name}/{split}", item_kind="image")
        for split, (ground, optimal) in zip(_SPLITS, drawn)
    ]
    return SetData(*splits, name=name, description=(
        f"{name}: {len(used)} of {len(files)} images, |V|={config.v_size}, |S*| in {config.s_min}..{config.s_max}, "
        f"sets {sizes[0]}/{sizes[1]}/{sizes[2]}"))
