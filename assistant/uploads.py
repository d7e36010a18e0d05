"""Storing uploaded documents safely: names, types, sizes, zips (traversal and bombs), metadata sidecars.

Uploads land under HOME/uploads/ and nowhere else. The metadata given with an upload is written
as each file's `FILE.meta.yaml` sidecar, so it survives every later reindex (a restricted upload
must stay restricted when an admin reindexes everything).
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.config import WebSettings
from assistant.errors import InputError
from assistant.files import atomic_write_bytes
from indexing.loaders import SUPPORTED_SUFFIXES
from indexing.metadata import SIDECAR_SUFFIX, is_metadata_file

_UNSAFE = re.compile(r"[^\w.\- ()+,&]+", re.UNICODE)
MB = 1024 * 1024


class UploadError(InputError):
    """The whole upload is refused (no files, too many files); per-file problems are listed instead."""


@dataclass
class StoredUploads:
    saved: list[Path] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    written: int = 0  # bytes, zip members as unpacked

    def reject(self, name: str, error: str) -> None:
        self.rejected.append({"path": name, "error": error})


def safe_name(name: str) -> str:
    """A plain file name from whatever a browser or zip sent: no folders, no leading dots, no odd characters."""
    base = re.split(r"[\\/]", name)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    if not base or base in (".", ".."):
        raise ValueError(f"{name!r} is not a usable file name")
    stem, dot, suffix = base.rpartition(".")
    if len(base) > 150:  # keep the suffix: it decides the loader (a long "suffix" is no file type: cut it)
        base = (stem[: 140 - len(suffix)] + dot + suffix) if dot and stem and len(suffix) <= 16 else base[:150]
    return base


def _check_type(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return None
    return f"unsupported file type {suffix or '(none)'} (supported: {' '.join(sorted(SUPPORTED_SUFFIXES))}, .zip)"


def _write_sidecar(target: Path, meta: dict[str, Any]) -> None:
    sidecar = target.with_name(target.name + SIDECAR_SUFFIX)
    if meta:
        atomic_write_bytes(sidecar, yaml.safe_dump(meta, sort_keys=True).encode())
    elif sidecar.exists():  # a re-upload without metadata clears what the old one said
        sidecar.unlink()


def _inside(folder: Path, target: Path) -> bool:
    return folder.resolve() in target.resolve().parents


class UploadStore:
    def __init__(self, folder: Path, limits: WebSettings) -> None:
        self.folder = folder
        self.limits = limits

    def store(self, files: list[tuple[str, Path]], meta: dict[str, Any] | None = None) -> StoredUploads:
        """Save (original name, temporary path) pairs; zips are unpacked. Returns what was saved and refused."""
        if not files:
            raise UploadError("no files were uploaded")
        if len(files) > self.limits.max_upload_files:
            raise UploadError(f"{len(files)} files is over the limit of {self.limits.max_upload_files} per upload")
        # Counted before anything is written: a refused upload must leave no files for the next indexing run.
        if self._count(files) > self.limits.max_upload_files:
            raise UploadError(f"the upload holds more than {self.limits.max_upload_files} files")
        self.folder.mkdir(parents=True, exist_ok=True)
        out = StoredUploads()
        meta = {k: v for k, v in (meta or {}).items() if v not in (None, "", [])}
        for name, path in files:
            if Path(name).suffix.lower() == ".zip":
                self._store_zip(name, path, meta, out)
            else:
                self._store_file(name, path, meta, out)
            if len(out.saved) > self.limits.max_upload_files:
                raise UploadError(f"the upload holds more than {self.limits.max_upload_files} files")
        return out

    def _count(self, files: list[tuple[str, Path]]) -> int:
        """Files this upload would write: plain files, plus the members of each zip within the limit
        (a zip over it, or unreadable, is refused on its own below and writes nothing)."""
        count = 0
        for name, path in files:
            if Path(name).suffix.lower() != ".zip":
                count += 1
                continue
            try:
                with zipfile.ZipFile(path) as archive:
                    members = sum(1 for m in archive.infolist() if not m.is_dir())
            except (zipfile.BadZipFile, OSError):
                continue
            if members <= self.limits.max_upload_files:
                count += members
        return count

    def _target(self, name: str, parts: list[str] | None = None) -> Path:
        folder = self.folder.joinpath(*[safe_name(p) for p in parts or []])
        target = folder / safe_name(name)
        if not _inside(self.folder, target) or is_metadata_file(target):
            raise ValueError(f"{name!r} would be written outside the upload folder")
        return target

    def _store_file(self, name: str, path: Path, meta: dict[str, Any], out: StoredUploads) -> None:
        try:
            target = self._target(name)
        except ValueError as err:
            out.reject(name, str(err))
            return
        if error := _check_type(target.name):
            out.reject(name, error)
            return
        size = path.stat().st_size
        if size > self.limits.max_upload_mb * MB:
            out.reject(name, f"{size / MB:.1f} MB is over the {self.limits.max_upload_mb:g} MB upload limit")
            return
        if size == 0:
            out.reject(name, "the file is empty")
            return
        if error := self._over_total(out, size):
            out.reject(name, error)
            return
        tmp = target.with_name(f".upload-{target.name}")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
        out.written += size
        _write_sidecar(target, meta)
        out.saved.append(target)

    def _total_left(self, out: StoredUploads) -> int:
        return int(self.limits.max_upload_total_mb * MB) - out.written

    def _over_total(self, out: StoredUploads, size: int) -> str | None:
        if size > self._total_left(out):
            return f"the upload would unpack past its {self.limits.max_upload_total_mb:g} MB total limit; skipped"
        return None

    def _store_zip(self, name: str, path: Path, meta: dict[str, Any], out: StoredUploads) -> None:
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            out.reject(name, f"not a readable zip file ({err})")
            return
        cap = int(self.limits.max_upload_mb * MB)
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > self.limits.max_upload_files:
                limit = self.limits.max_upload_files
                out.reject(name, f"the zip holds {len(members)} files, over the limit of {limit}")
                return
            for member in members:
                label = f"{name}:{member.filename}"
                parts = re.split(r"[\\/]", member.filename)
                if member.filename.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", parts[0]):
                    out.reject(label, "unsafe path in the zip (absolute or with ..); skipped")
                    continue
                if any(p.startswith(".") or p == "__MACOSX" for p in parts):
                    continue  # hidden files and macOS resource forks are not documents
                if error := _check_type(parts[-1]):
                    out.reject(label, error)
                    continue
                if member.file_size > cap:
                    size_mb = member.file_size / MB
                    out.reject(label, f"{size_mb:.1f} MB is over the {self.limits.max_upload_mb:g} MB limit")
                    continue
                if member.compress_size and member.file_size / member.compress_size > self.limits.max_zip_ratio:
                    out.reject(label, "compression ratio too high (a zip bomb?); skipped")
                    continue
                if error := self._over_total(out, member.file_size):
                    out.reject(label, error)
                    continue
                try:
                    target = self._target(parts[-1], [Path(name).stem, *parts[:-1]])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    # the declared size can lie: the copy stops at what is left of the total too
                    out.written += self._extract(archive, member, target, min(cap, self._total_left(out)))
                except (ValueError, zipfile.BadZipFile, OSError, RuntimeError) as err:
                    out.reject(label, str(err))
                    continue
                _write_sidecar(target, meta)
                out.saved.append(target)

    @staticmethod
    def _extract(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, cap: int) -> int:
        """Copy with a hard cap (a member's declared size can lie); the bytes written."""
        tmp = target.with_name(f".upload-{target.name}")
        written = 0
        try:
            with archive.open(member) as src, open(tmp, "wb") as dst:
                while block := src.read(1 << 20):
                    written += len(block)
                    if written > cap:
                        raise ValueError("it expands past the upload size limit (a zip bomb?); skipped")
                    dst.write(block)
            if written == 0:
                raise ValueError("the file is empty")
            os.replace(tmp, target)
            return written
        finally:
            tmp.unlink(missing_ok=True)
