"""The result store on S3: `s3://bucket/prefix`. Workers upload, the orchestrator downloads.

boto3 reads AWS_ENDPOINT_URL, AWS_REGION and credentials from the environment itself, so the same
code talks to S3 and to a moto server in tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from opp_ci.errors import UserError


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise UserError(f"not an S3 URL: {url!r} (expected s3://bucket/prefix)")
    return parsed.netloc, parsed.path.strip("/")


class S3Store:
    """Implements the store protocol: `upload_dir` and `download`, keys under the URL's prefix."""

    def __init__(self, url: str, client: Any | None = None) -> None:
        self.url = url
        self.bucket, self.root = parse_s3_url(url)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def key(self, *parts: str) -> str:
        """The object key for `parts` under this store's root prefix."""
        return "/".join(p.strip("/") for p in (self.root, *parts) if p.strip("/"))

    def upload_dir(self, local_dir: Path, prefix: str) -> list[str]:
        """Uploads every file under `local_dir`; returns their names relative to `prefix`."""
        local_dir = Path(local_dir)
        names = sorted(p.relative_to(local_dir).as_posix() for p in local_dir.rglob("*") if p.is_file())
        for name in names:
            self.client.upload_file(str(local_dir / name), self.bucket, self.key(prefix, name))
        return names

    def download(self, prefix: str, names: list[str], dest: Path) -> None:
        """Downloads `names` (relative to `prefix`) into `dest`, keeping their relative paths."""
        dest = Path(dest)
        for name in names:
            target = dest / name
            if not target.resolve().is_relative_to(dest.resolve()):
                raise UserError(f"refusing to write outside {dest}: {name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            self.client.download_file(self.bucket, self.key(prefix, name), str(target))

    def list(self, prefix: str) -> list[str]:
        """Names under `prefix`, relative to it."""
        base = self.key(prefix).rstrip("/") + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
        return sorted(obj["Key"][len(base) :] for page in pages for obj in page.get("Contents", []))
