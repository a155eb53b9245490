"""Shard files: durable appends, torn tails ignored and repaired, corruption named, merging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sambench.errors import RecordsError
from sambench.records import (
    ShardWriter,
    finished_keys,
    iter_rows,
    load_records,
    shard_path,
    write_json_atomic,
)


def row(image: str, value: float = 0.5) -> dict[str, object]:
    return {"dataset": "toy", "image_id": image, "value": value, "timing": {"io": 0.1}}


def test_rows_are_read_back_in_order(tmp_path: Path) -> None:
    with ShardWriter(shard_path(tmp_path, 0, 1)) as writer:
        for i in range(5):
            writer.append(row(str(i)))
    assert [r["image_id"] for r in iter_rows(tmp_path)] == ["0", "1", "2", "3", "4"]
    assert finished_keys(tmp_path) == {("toy", str(i)) for i in range(5)}


def test_a_torn_final_line_is_ignored_then_cut_on_reopen(tmp_path: Path) -> None:
    path = shard_path(tmp_path, 0, 1)
    with ShardWriter(path) as writer:
        writer.append(row("a"))
        writer.append(row("b"))
    full = path.read_bytes()
    path.write_bytes(full + json.dumps(row("c")).encode()[:17])  # killed mid-write
    assert [r["image_id"] for r in iter_rows(tmp_path)] == ["a", "b"]
    with ShardWriter(path) as writer:
        assert writer.torn_bytes_dropped == 17
        writer.append(row("c"))
    assert [r["image_id"] for r in iter_rows(tmp_path)] == ["a", "b", "c"]
    assert path.read_bytes() == full + (json.dumps(row("c"), separators=(",", ":")) + "\n").encode()


def test_a_torn_first_line_leaves_an_empty_shard(tmp_path: Path) -> None:
    path = shard_path(tmp_path, 0, 1)
    path.write_bytes(b'{"dataset": "to')
    assert list(iter_rows(tmp_path)) == []
    with ShardWriter(path) as writer:
        writer.append(row("a"))
    assert [r["image_id"] for r in iter_rows(tmp_path)] == ["a"]


def test_corruption_in_a_complete_line_names_file_and_line(tmp_path: Path) -> None:
    path = shard_path(tmp_path, 0, 1)
    path.write_text(json.dumps(row("a")) + "\n" + "{not json}\n")
    with pytest.raises(RecordsError, match=r"shard-000-of-001\.jsonl:2: corrupt record"):
        list(iter_rows(tmp_path))


def test_rows_without_keys_are_rejected(tmp_path: Path) -> None:
    shard_path(tmp_path, 0, 1).write_text('{"value": 1}\n')
    with pytest.raises(RecordsError, match="lacks 'dataset' or 'image_id'"):
        list(iter_rows(tmp_path))


def test_shards_merge_sorted_by_key_and_agreeing_duplicates_collapse(tmp_path: Path) -> None:
    with ShardWriter(shard_path(tmp_path, 1, 2)) as writer:
        writer.append(row("b"))
        writer.append(row("a"))
    with ShardWriter(shard_path(tmp_path, 0, 2)) as writer:
        writer.append(row("c"))
        writer.append({**row("a"), "timing": {"io": 9.0}})  # same result, other timing
    merged = load_records(tmp_path)
    assert [r["image_id"] for r in merged] == ["a", "b", "c"]


def test_conflicting_duplicates_are_an_error(tmp_path: Path) -> None:
    with ShardWriter(shard_path(tmp_path, 0, 2)) as writer:
        writer.append(row("a", 0.5))
    with ShardWriter(shard_path(tmp_path, 1, 2)) as writer:
        writer.append(row("a", 0.7))
    with pytest.raises(RecordsError, match="toy/a was recorded twice"):
        load_records(tmp_path)


def test_atomic_json_write_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
