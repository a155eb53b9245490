"""Per-sample records: append-only JSON-lines shard files, written atomically row by row.

Each row is one image's record, written with a single ``write`` of the whole line
followed by ``fsync``. A process killed mid-write leaves at most one torn line at
the end of its shard; readers ignore a final line without its newline, and a
writer reopening the shard cuts that torn tail off before appending. A complete
line that does not parse is corruption, reported with the file and line number.

Several workers write separate shards of the same run; :func:`load_records` merges
them, keyed by ``(dataset, image_id)``, so the merged run does not depend on how
the samples were split.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from sambench.errors import RecordsError

RecordKey = tuple[str, str]
SHARD_GLOB = "shard-*.jsonl"


def shard_path(records_dir: Path, index: int, count: int) -> Path:
    """The shard file a worker writes: ``shard-<index>-of-<count>.jsonl``."""
    return records_dir / f"shard-{index:03d}-of-{count:03d}.jsonl"


def record_key(row: Mapping[str, Any]) -> RecordKey:
    """The key ``(dataset, image_id)`` of a record row."""
    return (str(row["dataset"]), str(row["image_id"]))


class ShardWriter:
    """Appends rows to one shard file; each row is durable once :meth:`append` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.torn_bytes_dropped = _cut_torn_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, row: Mapping[str, Any]) -> None:
        """Write ``row`` as one JSON line and flush it to disk."""
        data = (json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def iter_rows(records_dir: Path) -> Iterator[dict[str, Any]]:
    """Every complete row of every shard, shards in name order, rows in file order."""
    for path in sorted(records_dir.glob(SHARD_GLOB)):
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.endswith(b"\n"):
                    break  # a torn final write: the row was never completed
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise RecordsError(f"{path}:{number}: corrupt record ({error.msg})") from error
                if not isinstance(row, dict) or "dataset" not in row or "image_id" not in row:
                    raise RecordsError(f"{path}:{number}: record lacks 'dataset' or 'image_id'")
                yield row


def load_records(records_dir: Path) -> list[dict[str, Any]]:
    """All records of a run, one per key, sorted by key.

    A key written twice (two workers given overlapping shards) keeps the row from the
    first shard in name order if both rows agree, and is an error if they differ.
    """
    rows: dict[RecordKey, dict[str, Any]] = {}
    for row in iter_rows(records_dir):
        key = record_key(row)
        if key in rows and _without_timing(rows[key]) != _without_timing(row):
            raise RecordsError(
                f"{records_dir}: sample {key[0]}/{key[1]} was recorded twice with different results"
            )
        rows.setdefault(key, row)
    return [rows[key] for key in sorted(rows)]


def finished_keys(records_dir: Path) -> set[RecordKey]:
    """Keys of the samples that already have a complete record."""
    return {record_key(row) for row in iter_rows(records_dir)} if records_dir.is_dir() else set()


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_text_atomic(path: Path, text: str) -> None:
    """Write text to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _cut_torn_tail(path: Path) -> int:
    """Truncate ``path`` after its last newline; returns the number of bytes dropped."""
    if not path.exists():
        return 0
    with path.open("r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            step = min(65536, end)
            handle.seek(end - step)
            block = handle.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                end = end - step + newline + 1
                break
            end -= step
        if end != size:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
        return size - end


def _without_timing(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "timing"}
