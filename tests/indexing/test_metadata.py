from pathlib import Path

import pytest

from indexing.metadata import (
    MetadataError,
    flatten_for_store,
    parse_key_values,
    resolve_metadata,
    visibility_filter,
    where_clause,
)


def test_folder_meta_then_sidecar_wins(tmp_path: Path) -> None:
    (tmp_path / "_meta.yaml").write_text("doc_type: bid\nsector: health\n")
    sub = tmp_path / "justice"
    sub.mkdir()
    (sub / "_meta.yaml").write_text("sector: justice\n")
    f = sub / "a.docx"
    f.write_bytes(b"x")
    (sub / "a.docx.meta.yaml").write_text("outcome: won\ndate: 2024-03-01\ngroups: [Leadership]\n")
    meta = resolve_metadata(f, tmp_path, {"doc_type": "other", "region": "uk"})
    assert meta["doc_type"] == "bid" and meta["sector"] == "justice" and meta["outcome"] == "won"
    assert meta["region"] == "uk"
    flat = flatten_for_store(meta)
    assert flat["date"] == "2024-03-01"
    assert flat["groups"] == "leadership" and flat["grp_leadership"] is True and flat["public"] is False


def test_metadata_outside_the_root_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "_meta.yaml").write_text("doc_type: secret\n")
    root = tmp_path / "root"
    root.mkdir()
    f = root / "a.txt"
    f.write_text("x")
    assert "doc_type" not in resolve_metadata(f, root)


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "_meta.yaml").write_text("doc_type: [unclosed\n")
    f = tmp_path / "a.txt"
    f.write_text("x")
    with pytest.raises(MetadataError, match=r"_meta\.yaml"):
        resolve_metadata(f, tmp_path)
    (tmp_path / "_meta.yaml").write_text("- just\n- a list\n")
    with pytest.raises(MetadataError, match="mapping"):
        resolve_metadata(f, tmp_path)


def test_public_documents_have_no_groups() -> None:
    flat = flatten_for_store({"doc_type": "kms_fact", "tags": ["a", "b"]})
    assert flat == {"doc_type": "kms_fact", "tags": "a,b", "public": True}


def test_where_and_visibility_clauses() -> None:
    assert where_clause(None, None) is None
    assert visibility_filter([]) == {"public": True}
    assert visibility_filter(["Finance", "hr"]) == {
        "$or": [{"public": True}, {"grp_finance": True}, {"grp_hr": True}]
    }
    clause = where_clause({"doc_type": "bid", "year": "2024"}, [])
    assert clause == {"$and": [{"doc_type": "bid"}, {"$or": [{"year": "2024"}, {"year": 2024}]}, {"public": True}]}


def test_parse_key_values_errors() -> None:
    assert parse_key_values(["sector=justice", "groups=a, b"]) == {"sector": "justice", "groups": ["a", "b"]}
    with pytest.raises(MetadataError, match="KEY=VALUE"):
        parse_key_values(["sector"])
