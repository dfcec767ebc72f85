"""Where exported files go: an abstract target with `write_bytes(relative_path, data)`.

`LocalTarget` writes under a directory; `S3Target` puts objects with a boto3-style S3 client (the Dagster
shell passes dagster-aws `S3Resource`'s client), so the exporter never imports an S3 library.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Protocol


class ExportTarget(Protocol):
    def write_bytes(self, relative_path: str, data: bytes) -> str:
        """Store `data` at `relative_path` (POSIX, relative); return where it went (a path or URI)."""
        ...


def _checked(relative_path: str) -> str:
    path = PurePosixPath(relative_path)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"export paths must be relative and stay inside the target: {relative_path!r}")
    return str(path)


class LocalTarget:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def write_bytes(self, relative_path: str, data: bytes) -> str:
        path = self.directory / _checked(relative_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".partial")
        temporary.write_bytes(data)
        temporary.replace(path)  # readers never see a half-written file
        return str(path)


class S3Target:
    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def key_for(self, relative_path: str) -> str:
        relative = _checked(relative_path)
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def write_bytes(self, relative_path: str, data: bytes) -> str:
        key = self.key_for(relative_path)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"
