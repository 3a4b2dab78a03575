"""Where each real dataset comes from, and how it is fetched, verified and extracted.

Each :class:`Source` lives in its own folder under a data root (``data/`` by default):
``<root>/<source>/``. :func:`fetch` downloads every missing file to ``<file>.part`` and renames it
only when complete; checks a published MD5 where one is known; records the file's SHA-256 in
``<folder>/SHA256SUMS`` after the first download (or the first check of a file placed by hand) and
verifies it against that record on every later :func:`fetch`; and extracts archives into a
temporary folder that is renamed into place, with a marker naming the archive's checksum. A
failure at any step leaves no partial file behind.

Offline, or when a host refuses, :func:`fetch` fails at once with one :class:`DownloadError`
naming the URL and the folder where the files can be placed by hand (the archive itself, or its
extracted contents: a source whose expected files are present needs nothing downloaded).
Google-Drive files are fetched with ``gdown`` (imported only then).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .amazon import CATEGORIES, DataFileError
from .files import atomic_output, find_visible

__all__ = ["RemoteFile", "Source", "SOURCES", "DownloadError", "SourceStatus", "source_status", "fetch",
           "sha256_of"]

_TIMEOUT_S = 20
_CHECKSUMS = "SHA256SUMS"


class DownloadError(DataFileError):
    """A file could not be downloaded; the message names the URL and where to place it by hand."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class RemoteFile:
    """One file of a source.

    Attributes:
        name: file name inside the source's folder.
        url: where it is downloaded from (for Google Drive, the shareable link shown to users).
        drive_id: Google-Drive file id (then fetched with gdown), else ``None`` (plain HTTP).
        md5: the checksum published with the file, where one is known.
        extract: a ``.zip`` or ``.tar.gz`` archive to extract into the folder.
    """

    name: str
    url: str
    drive_id: str | None = None
    md5: str | None = None
    extract: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Source:
    """A dataset's remote files and what its loader needs once they are in place.

    Attributes:
        expects: file or folder names the loader looks for (at any depth) in the folder.
        datasets: registry names of the datasets read from this source.
    """

    name: str
    title: str
    files: tuple[RemoteFile, ...]
    expects: tuple[str, ...]
    datasets: tuple[str, ...]
    note: str = ""


SOURCES: dict[str, Source] = {
    "amazon": Source(
        name="amazon",
        title="Amazon baby registries, Ou et al. 2022's archive (12 categories: <category>.pickle + .csv)",
        files=(RemoteFile(name="amazon_baby_registry.zip",
                          url="https://drive.google.com/file/d/1OLbCOTsRyowxw3_AzhxJPVB8VAgjt2Y6/view",
                          drive_id="1OLbCOTsRyowxw3_AzhxJPVB8VAgjt2Y6", extract=True),),
        expects=tuple(f"{c}.{ext}" for c in CATEGORIES for ext in ("pickle", "csv")),
        datasets=tuple(f"amazon_{c}" for c in CATEGORIES),
    ),
    "celeba": Source(
        name="celeba",
        title="CelebA aligned images and attributes (Liu et al. 2015); non-commercial research use only",
        files=(
            RemoteFile(name="list_attr_celeba.txt",
                       url="https://drive.google.com/file/d/0B7EVK8r0v71pblRyaVFSWGxPY0U/view",
                       drive_id="0B7EVK8r0v71pblRyaVFSWGxPY0U", md5="75e246fa4810816ffd6ee81facbd244c"),
            RemoteFile(name="img_align_celeba.zip",
                       url="https://drive.google.com/file/d/0B7EVK8r0v71pZjFTYXZWM3FlRnM/view",
                       drive_id="0B7EVK8r0v71pZjFTYXZWM3FlRnM", md5="00d2c5bc6d35e252742224ab0c1e8fcb",
                       extract=True),
        ),
        expects=("list_attr_celeba.txt", "img_align_celeba"),
        datasets=("celeba",),
        note="Google Drive limits daily downloads of these files; if refused, fetch them from the CelebA page.",
    ),
    "bindingdb": Source(
        name="bindingdb",
        title="BindingDB_Kd of Therapeutics Data Commons (TDC), bindingdb_kd.tab",
        files=(RemoteFile(name="bindingdb_kd.tab", url="https://dataverse.harvard.edu/api/access/datafile/4291555"),),
        expects=("bindingdb_kd.tab",),
        datasets=("bindingdb", "bindingdb_pkd", "bindingdb_diverse"),
    ),
    "pdbbind": Source(
        name="pdbbind",
        title="PDBBind v2015 as redistributed by DGL/MoleculeNet (core set: INDEX_core_data.2013)",
        files=(RemoteFile(name="pdbbind_v2015.tar.gz", url="https://data.dgl.ai/dataset/pdbbind_v2015.tar.gz",
                          extract=True),),
        expects=("INDEX_core_data.2013",),
        datasets=("pdbbind", "pdbbind_diverse"),
    ),
}


@dataclasses.dataclass(frozen=True)
class SourceStatus:
    """What of a source is present. ``ready``: the loader finds every expected file."""

    source: str
    folder: Path
    ready: bool
    missing: tuple[str, ...]
    files: dict[str, str]  # file name → "absent" / "present, checksum recorded" / …


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_checksums(folder: Path) -> dict[str, str]:
    path = folder / _CHECKSUMS
    if not path.is_file():
        return {}
    recorded = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise DataFileError(f"{path}:{number}: expected '<sha256>  <file name>', got {line[:80]!r}")
        recorded[name] = digest
    return recorded


def _atomic_write(path: Path, text: str) -> None:
    with atomic_output(path, "w", encoding="utf-8") as out:
        out.write(text)


def _record_checksum(folder: Path, name: str, digest: str) -> None:
    recorded = {**_read_checksums(folder), name: digest}
    _atomic_write(folder / _CHECKSUMS, "".join(f"{d}  {n}\n" for n, d in sorted(recorded.items())))


def _found(folder: Path, name: str) -> bool:
    return folder.is_dir() and bool(find_visible(folder, name))


def source_status(source: Source, root: Path) -> SourceStatus:
    """What is present of ``source`` under ``root`` (no checksums computed: see :func:`fetch`)."""
    folder = Path(root) / source.name
    missing = tuple(name for name in source.expects if not _found(folder, name))
    recorded = _read_checksums(folder) if folder.is_dir() else {}
    files = {}
    for remote in source.files:
        path = folder / remote.name
        if path.is_file():
            files[remote.name] = "present, checksum recorded" if remote.name in recorded else "present, not yet verified"
        else:
            files[remote.name] = "absent"
    return SourceStatus(source.name, folder, not missing, missing, files)


def _hand_placement(source: Source, folder: Path) -> str:
    files = ", ".join(f.name for f in source.files)
    if any(f.extract for f in source.files):
        expected = f"{', '.join(source.expects[:4])}{', …' if len(source.expects) > 4 else ''}"
        files += f" (or the archive's extracted contents: {expected})"
    return f"place {files} by hand in {folder}/, then run `python -m setbench.benchmarks data {source.name}` again"


def _download(remote: RemoteFile, target: Path, source: Source, progress: bool) -> None:
    """Download ``remote`` to ``target`` via a ``.part`` file; nothing remains on failure."""
    part = target.with_name(target.name + ".part")
    part.unlink(missing_ok=True)
    try:
        if remote.drive_id is not None:
            import gdown

            result = gdown.download(id=remote.drive_id, output=str(part), quiet=not progress, timeout=_TIMEOUT_S)
            if result is None or not part.is_file():
                raise OSError("gdown returned no file")
        else:
            request = urllib.request.Request(remote.url, headers={"User-Agent": "setbench"})
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response, part.open("wb") as out:
                from tqdm.auto import tqdm

                total = int(response.headers.get("Content-Length") or 0) or None
                received = 0
                with tqdm(total=total, unit="B", unit_scale=True, desc=remote.name, disable=not progress) as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        received += len(block)
                        bar.update(len(block))
                if total is not None and received != total:
                    raise OSError(f"connection closed after {received} of {total} bytes")
        os.replace(part, target)
    except KeyboardInterrupt:
        part.unlink(missing_ok=True)
        raise
    except Exception as err:  # network, HTTP, quota: one message, no partial file
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"could not download {remote.name} from {remote.url} ({type(err).__name__}: {reason}); "
                            f"{_hand_placement(source, target.parent)}") from None


def _safe_members(archive: Path, names: list[str]) -> None:
    for name in names:
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts:
            raise DataFileError(f"{archive}: refusing to extract {name!r} (a path outside the folder)")


def _extract(archive: Path, folder: Path, digest: str, *, present: bool) -> None:
    """Extract into a temporary folder, move its entries into ``folder``, then write the marker.

    Skipped when the marker names this archive's digest and ``present`` (the expected files are
    all there); a temporary folder left by a killed extraction is removed first.
    """
    marker = folder / f".extracted-{archive.name}"
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == digest and present:
        return
    for stale in folder.glob(f".extract-{archive.name}.*"):  # left by a killed extraction
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".extract-{archive.name}."))
    try:
        try:
            if archive.name.endswith(".zip"):
                with zipfile.ZipFile(archive) as bundle:
                    _safe_members(archive, bundle.namelist())
                    bundle.extractall(tmp)
            else:
                with tarfile.open(archive) as bundle:
                    _safe_members(archive, bundle.getnames())
                    bundle.extractall(tmp, filter="data")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
            raise DataFileError(f"{archive}: corrupt or truncated archive ({err}); delete it and download again") from None
        for entry in tmp.iterdir():
            destination = folder / entry.name
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            elif destination.exists():
                destination.unlink()
            os.replace(entry, destination)
        _atomic_write(marker, digest + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch(source: Source, root: Path, *, progress: bool = True) -> SourceStatus:
    """Download what is missing, verify every archive present, extract, and report.

    A source whose expected files are all present (e.g. extracted by hand) downloads nothing;
    archives that are present are still verified.

    Raises:
        DownloadError: naming the URL and the folder for hand placement.
        DataFileError: for a checksum mismatch or a corrupt archive, naming the file.
    """
    folder = Path(root) / source.name
    folder.mkdir(parents=True, exist_ok=True)
    need_download = not source_status(source, root).ready
    for remote in source.files:
        path = folder / remote.name
        if not path.is_file():
            if not need_download:
                continue
            _download(remote, path, source, progress)
        digest = sha256_of(path)
        recorded = _read_checksums(folder).get(remote.name)
        if recorded is not None and recorded != digest:
            raise DataFileError(f"{path}: SHA-256 {digest[:12]}… differs from the one recorded at first download "
                                f"({recorded[:12]}… in {folder / _CHECKSUMS}): the file is corrupt or was replaced; "
                                f"delete it and run `python -m setbench.benchmarks data {source.name}` again")
        if recorded is None:
            if remote.md5 is not None and _md5_of(path) != remote.md5:
                raise DataFileError(f"{path}: MD5 differs from the published {remote.md5}: corrupt or truncated "
                                    f"download; delete it and try again")
        if remote.extract:
            # An archive that does not extract (an HTML page, a truncated download) raises here,
            # before its checksum is recorded: a later good download is not refused as "replaced".
            _extract(path, folder, digest, present=source_status(source, root).ready)
        if recorded is None:
            _record_checksum(folder, remote.name, digest)
    status = source_status(source, root)
    if not status.ready:
        raise DataFileError(f"{folder}: after download and extraction, {', '.join(status.missing)} still missing "
                            f"(unexpected archive layout)")
    return status
