"""Where exported files go: an abstract target with `write_bytes(relative_path, data)`.

`LocalTarget` writes under a directory; `S3Target` puts objects with a boto3-style S3 client (the Dagster
shell passes dagster-aws `S3Resource`'s client), so the exporter never imports an S3 library. Both read
back (`read_bytes`) so a written export can be re-validated from its stored bytes.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Protocol


class ExportTarget(Protocol):
    def write_bytes(self, relative_path: str, data: bytes) -> str:
        """Store `data` at `relative_path` (POSIX, relative); return where it went (a path or URI)."""
        ...

    def read_bytes(self, relative_path: str) -> bytes | None:
        """The bytes stored at `relative_path`, or None when nothing is there (re-validation reads back)."""
        ...


def export_path(folder: str, domain: str, batch: str, extension: str) -> str:
    """Where one partition's file of one kind goes: `<folder>/<domain>/<batch>.<extension>`."""
    return f"{folder}/{domain}/{batch}.{extension}"


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

    def read_bytes(self, relative_path: str) -> bytes | None:
        path = self.directory / _checked(relative_path)
        return path.read_bytes() if path.is_file() else None


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

    def read_bytes(self, relative_path: str) -> bytes | None:
        key = self.key_for(relative_path)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _is_missing(error):
                return None
            raise
        return response["Body"].read()


def _is_missing(error: Exception) -> bool:
    """boto3's ClientError for an absent key (its error classes are made per client, so read the code)."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in ("NoSuchKey", "404", "NotFound")
