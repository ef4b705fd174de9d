"""The result store on S3: `s3://bucket/prefix`. Workers upload, the orchestrator downloads.

boto3 reads AWS_ENDPOINT_URL, AWS_REGION and credentials from the environment itself, so the same
code talks to S3 and to a moto server in tests.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from opp_ci.errors import UserError
from opp_ci.safe_text import redacted_url
from opp_ci.store_files import Missing, relative_files

#: Waits before an object a reply names is looked for again when S3 says it is not there (S3 has listed new
#: objects at once since 2020: a moment's grace, not the store's backoff).
MISSING_BACKOFF = (0.2, 0.5, 1.0)


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise UserError(f"not an S3 URL: {redacted_url(url)!r} (expected s3://bucket/prefix)")
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
        """Uploads every regular file under `local_dir` (no symbolic link is followed); returns their names
        relative to `prefix`."""
        local_dir = Path(local_dir)
        names = relative_files(local_dir)
        for name in names:
            self.client.upload_file(str(local_dir / name), self.bucket, self.key(prefix, name))
        return names

    def download(self, prefix: str, names: list[str], dest: Path) -> None:
        """Downloads `names` (relative to `prefix`) into `dest`, keeping their relative paths. A name S3 does not
        have is a Missing after a short wait; S3 unreachable or refusing is an OSError (retried by the caller)."""
        dest = Path(dest)
        for name in names:
            target = dest / name
            if not target.resolve().is_relative_to(dest.resolve()):
                raise UserError(f"refusing to write outside {dest}: {name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            self._download(self.key(prefix, name), target, "/".join([*Path(prefix).parts[1:], name]))

    def _download(self, key: str, target: Path, shown: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for wait in (*MISSING_BACKOFF, None):
            try:
                self.client.download_file(self.bucket, key, str(target))
                return
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                    raise OSError(f"S3: {error}") from None
            except BotoCoreError as error:
                raise OSError(f"S3: {error}") from None
            if wait is None:
                raise Missing(f"{shown} is not in the store")
            time.sleep(wait)

    def list(self, prefix: str) -> list[str]:
        """Names under `prefix`, relative to it."""
        base = self.key(prefix).rstrip("/") + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
        return sorted(obj["Key"][len(base) :] for page in pages for obj in page.get("Contents", []))
