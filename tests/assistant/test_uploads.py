"""UploadStore: safe names, types, sizes, zips (traversal and bombs) and metadata sidecars. No models.

Every refusal is checked on the filesystem too: a guard that reports a refusal but still wrote the
file (or left a temporary beside it) would pass a test that only read the returned list.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest
import yaml

from assistant.config import WebSettings
from assistant.uploads import MB, UploadError, UploadStore, safe_name

TEXT = b"Calderbrook's Leeds office opened in 2015 and has 120 staff working on health projects.\n"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """HOME/uploads is the only place an upload may write; inputs live in tmp/in, beside the home."""
    (tmp_path / "in").mkdir()
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def store(home: Path, **limits: float) -> UploadStore:
    return UploadStore(home / "uploads", WebSettings(**limits))


def write(tmp_path: Path, name: str, data: bytes = TEXT) -> Path:
    path = tmp_path / "in" / name
    path.write_bytes(data)
    return path


def make_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    # writestr with a plain name keeps it verbatim (ZipFile.write would strip a leading "/"), so the
    # archive holds exactly the hostile names a crafted upload would.
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def everything_outside_uploads(tmp_path: Path) -> set[str]:
    """Every file under the test folder except the uploads folder and the inputs we wrote ourselves."""
    return {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
            if p.is_file() and not p.is_relative_to(tmp_path / "home" / "uploads")
            and not p.is_relative_to(tmp_path / "in")}


# -- names ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("C:\\Users\\ada\\Documents\\report.pdf", "report.pdf"),
        ("..\\..\\windows\\system32\\evil.txt", "evil.txt"),
        (".bashrc", "bashrc"),
        ("...hidden.md", "hidden.md"),
        ("bid: lot 1?.docx", "bid_ lot 1_.docx"),
        ("Café menu (2024).md", "Café menu (2024).md"),
    ],
)
def test_safe_name_strips_folders_dots_and_odd_characters(given: str, expected: str) -> None:
    assert safe_name(given) == expected


def test_safe_name_shortens_long_names_but_keeps_the_suffix() -> None:
    name = safe_name("q" * 300 + ".pdf")
    assert name.endswith(".pdf") and len(name) <= 150 and name.startswith("q")
    no_suffix = safe_name("z" * 300)
    assert no_suffix == "z" * 150


def test_safe_name_with_an_absurd_suffix_is_still_short_and_not_hidden() -> None:
    # The suffix rule must not turn "x.<200 chars>" into a hidden ".<200 chars>" over the length limit.
    name = safe_name("x." + "y" * 200)
    assert len(name) <= 150 and not name.startswith("."), name


@pytest.mark.parametrize("given", ["", "..", ".", " . ", "../", "a/b/.."])
def test_safe_name_refuses_names_with_nothing_left(given: str) -> None:
    with pytest.raises(ValueError, match="not a usable file name"):
        safe_name(given)


def test_traversal_in_an_uploaded_file_name_lands_inside_the_upload_folder(tmp_path: Path, home: Path) -> None:
    src = write(tmp_path, "plain.txt")
    out = store(home).store([("../../outside.txt", src), ("/tmp/abs.md", src)])
    assert sorted(p.name for p in out.saved) == ["abs.md", "outside.txt"]
    assert files_under(home / "uploads") == {"outside.txt", "abs.md"}
    assert everything_outside_uploads(tmp_path) == set()


# -- single files -----------------------------------------------------------------------------------

def test_unsupported_type_is_refused_with_a_message_naming_it(tmp_path: Path, home: Path) -> None:
    src = write(tmp_path, "setup.exe", b"MZ\x90\x00")
    bare = write(tmp_path, "README", TEXT)
    out = store(home).store([("setup.exe", src), ("README", bare)])
    errors = {r["path"]: r["error"] for r in out.rejected}
    assert not out.saved
    assert "unsupported file type .exe" in errors["setup.exe"]
    assert "unsupported file type (none)" in errors["README"]
    assert ".pdf" in errors["setup.exe"]  # the message says what would be accepted
    assert files_under(home / "uploads") == set()


def test_empty_file_is_refused(tmp_path: Path, home: Path) -> None:
    out = store(home).store([("empty.txt", write(tmp_path, "empty.txt", b""))])
    assert not out.saved and "empty" in out.rejected[0]["error"]
    assert files_under(home / "uploads") == set()


def test_oversize_file_is_refused(tmp_path: Path, home: Path) -> None:
    big = write(tmp_path, "big.txt", TEXT * 2000)  # ~176 KB
    ok = write(tmp_path, "ok.txt")
    out = store(home, max_upload_mb=0.1).store([("big.txt", big), ("ok.txt", ok)])
    assert [p.name for p in out.saved] == ["ok.txt"]
    assert out.rejected[0]["path"] == "big.txt" and "over the 0.1 MB upload limit" in out.rejected[0]["error"]
    assert files_under(home / "uploads") == {"ok.txt"}


def test_no_files_and_too_many_files_refuse_the_whole_upload(tmp_path: Path, home: Path) -> None:
    src = write(tmp_path, "a.txt")
    with pytest.raises(UploadError, match="no files"):
        store(home).store([])
    with pytest.raises(UploadError, match="over the limit of 3"):
        store(home, max_upload_files=3).store([(f"f{i}.txt", src) for i in range(4)])
    assert files_under(home / "uploads") == set()


def test_reupload_replaces_the_file_and_its_metadata(tmp_path: Path, home: Path) -> None:
    uploads = store(home)
    first = uploads.store([("memo.md", write(tmp_path, "v1.md", b"version one\n"))], {"groups": ["finance"],
                                                                                       "doc_type": "internal_comms"})
    target = home / "uploads" / "memo.md"
    sidecar = home / "uploads" / "memo.md.meta.yaml"
    assert first.saved == [target]
    assert yaml.safe_load(sidecar.read_text()) == {"groups": ["finance"], "doc_type": "internal_comms"}

    # Same name again, new content, no metadata: the file is replaced and the old groups go with it,
    # so the sidecar cannot keep describing a file it no longer belongs to.
    again = uploads.store([("memo.md", write(tmp_path, "v2.md", b"version two\n"))], {"groups": [], "sector": ""})
    assert again.saved == [target]
    assert target.read_bytes() == b"version two\n"
    assert not sidecar.exists()
    assert files_under(home / "uploads") == {"memo.md"}  # no temporary left beside it


# -- zips -------------------------------------------------------------------------------------------

def test_zip_members_are_unpacked_into_a_folder_with_sidecars(tmp_path: Path, home: Path) -> None:
    archive = make_zip(tmp_path / "in" / "bids.zip", {
        "lot1/answer.md": TEXT, "notes.txt": TEXT, "__MACOSX/._notes.txt": b"junk", ".DS_Store": b"junk",
        "tool.exe": b"MZ",
    })
    out = store(home).store([("bids.zip", archive)], {"groups": ["leadership"]})
    assert sorted(files_under(home / "uploads")) == [
        "bids/lot1/answer.md", "bids/lot1/answer.md.meta.yaml", "bids/notes.txt", "bids/notes.txt.meta.yaml",
    ]
    assert yaml.safe_load((home / "uploads/bids/notes.txt.meta.yaml").read_text()) == {"groups": ["leadership"]}
    assert [r["path"] for r in out.rejected] == ["bids.zip:tool.exe"]  # hidden files are skipped silently


def test_corrupt_zip_is_refused(tmp_path: Path, home: Path) -> None:
    bad = write(tmp_path, "broken.zip", b"PK\x03\x04 this is not really a zip" * 10)
    out = store(home).store([("broken.zip", bad)])
    assert not out.saved and "not a readable zip file" in out.rejected[0]["error"]
    assert files_under(home / "uploads") == set()


@pytest.mark.parametrize(
    "member",
    ["../escaped.txt", "docs/../../escaped.txt", "..\\escaped.txt", "C:/escaped.txt", "C:escaped.txt",
     "ABSOLUTE", "ABSOLUTE-WINDOWS"],
)
def test_zip_with_traversal_or_absolute_paths_writes_nothing_outside(tmp_path: Path, home: Path,
                                                                      member: str) -> None:
    # An absolute member names a real folder beside the home, so an escape would be seen on disk.
    victim = tmp_path / "victim" / "escaped.txt"
    member = {"ABSOLUTE": str(victim), "ABSOLUTE-WINDOWS": str(victim).replace("/", "\\")}.get(member, member)
    archive = make_zip(tmp_path / "in" / "evil.zip", {member: TEXT, "fine.txt": TEXT})
    assert member in zipfile.ZipFile(archive).namelist()  # the hostile name really is in the archive
    out = store(home).store([("evil.zip", archive)])
    assert [r["path"] for r in out.rejected] == [f"evil.zip:{member}"]
    assert "unsafe path" in out.rejected[0]["error"]
    assert files_under(home / "uploads") == {"evil/fine.txt"}
    assert everything_outside_uploads(tmp_path) == set()
    assert not Path(home.anchor, "escaped.txt").exists()


def test_zip_bomb_by_compression_ratio_is_refused(tmp_path: Path, home: Path) -> None:
    archive = make_zip(tmp_path / "in" / "bomb.zip", {"zeros.txt": b"0" * (5 * MB), "ok.txt": TEXT})
    info = zipfile.ZipFile(archive).getinfo("zeros.txt")
    assert info.file_size / info.compress_size > 100  # really a high-ratio member
    out = store(home).store([("bomb.zip", archive)])
    assert [p.name for p in out.saved] == ["ok.txt"]
    assert [r["path"] for r in out.rejected] == ["bomb.zip:zeros.txt"]
    assert "compression ratio too high" in out.rejected[0]["error"]
    assert files_under(home / "uploads") == {"bomb/ok.txt"}


def test_zip_member_declared_over_the_cap_is_refused_before_reading(tmp_path: Path, home: Path) -> None:
    data = os.urandom(300 * 1024)  # incompressible: only the size rule can refuse it
    archive = make_zip(tmp_path / "in" / "big.zip", {"big.txt": data})
    out = store(home, max_upload_mb=0.1).store([("big.zip", archive)])
    assert not out.saved and "over the 0.1 MB limit" in out.rejected[0]["error"]
    assert files_under(home / "uploads") == set()


def test_an_upload_stops_unpacking_at_its_total_limit_and_keeps_what_fits(tmp_path: Path, home: Path) -> None:
    members = {f"part{i}.txt": os.urandom(300 * 1024).hex().encode()[:300 * 1024] for i in range(3)}
    archive = make_zip(tmp_path / "in" / "many.zip", members)
    plain = write(tmp_path, "note.txt")
    out = store(home, max_upload_total_mb=0.7).store([("note.txt", plain), ("many.zip", archive)])
    assert sorted(p.name for p in out.saved) == ["note.txt", "part0.txt", "part1.txt"]
    assert [r["path"] for r in out.rejected] == ["many.zip:part2.txt"]
    assert "0.7 MB total limit" in out.rejected[0]["error"]
    assert files_under(home / "uploads") == {"note.txt", "many/part0.txt", "many/part1.txt"}


def _lie_about_size(archive: Path, declared: int) -> None:
    """Rewrite the uncompressed size of the zip's only member in both headers (a crafted bomb)."""
    raw = bytearray(archive.read_bytes())
    local = raw.index(b"PK\x03\x04")
    central = raw.index(b"PK\x01\x02")
    struct.pack_into("<I", raw, local + 22, declared)
    struct.pack_into("<I", raw, central + 24, declared)
    archive.write_bytes(bytes(raw))


def test_zip_member_whose_data_expands_past_its_declared_size_is_refused(tmp_path: Path, home: Path) -> None:
    # 2 MB of zeros declared as 2 KB: past the size and ratio checks, so only reading can catch it
    # (Python's zipfile stops at the declared size and the CRC then fails; the cap below is the backstop).
    archive = make_zip(tmp_path / "in" / "liar.zip", {"liar.txt": b"\0" * (2 * MB)})
    _lie_about_size(archive, 2048)
    info = zipfile.ZipFile(archive).getinfo("liar.txt")
    assert info.file_size == 2048 and info.file_size / info.compress_size < 100
    out = store(home, max_upload_mb=0.5).store([("liar.zip", archive)])
    assert not out.saved and out.rejected[0]["path"] == "liar.zip:liar.txt", out.rejected
    assert files_under(home / "uploads") == set()  # neither the file nor a temporary


def test_extraction_stops_at_the_cap_whatever_the_header_says(tmp_path: Path, home: Path) -> None:
    """The streaming guard itself: a member bigger than the cap is never written in full."""
    archive = make_zip(tmp_path / "in" / "grow.zip", {"grow.txt": b"a" * (3 * MB)})
    target = home / "uploads" / "grow.txt"
    target.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf, pytest.raises(ValueError, match="expands past the upload size limit"):
        UploadStore._extract(zf, zf.getinfo("grow.txt"), target, cap=MB)
    assert files_under(home / "uploads") == set()


def test_zip_with_too_many_members_is_refused(tmp_path: Path, home: Path) -> None:
    archive = make_zip(tmp_path / "in" / "many.zip", {f"f{i}.txt": TEXT for i in range(6)})
    out = store(home, max_upload_files=5).store([("many.zip", archive)])
    assert not out.saved and "holds 6 files, over the limit of 5" in out.rejected[0]["error"]
    assert files_under(home / "uploads") == set()


def test_files_and_zip_members_together_over_the_limit_write_nothing(tmp_path: Path, home: Path) -> None:
    # Each part is within the limit of 5; together they are 7. A refused upload must not leave files
    # behind for the next upload's indexing run to pick up.
    archive = make_zip(tmp_path / "in" / "four.zip", {f"f{i}.txt": TEXT for i in range(4)})
    src = write(tmp_path, "a.txt")
    with pytest.raises(UploadError, match="more than 5 files"):
        store(home, max_upload_files=5).store([("a.txt", src), ("b.txt", src), ("four.zip", archive)])
    assert files_under(home / "uploads") == set()
