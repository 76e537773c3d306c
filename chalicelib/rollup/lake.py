"""The lake as the rollup sees it: list, fetch, put, delete. S3 in production, a directory in
benchmarks; DuckDB only ever reads local files (no httpfs extension to download at run time)."""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

_WORKERS = 8
_SUFFIX = re.compile(r"(\.[A-Za-z0-9]{1,8}){1,2}$")


@dataclass(frozen=True, order=True)
class LakeObject:
    key: str
    etag: str
    size: int


class Lake(Protocol):
    def list(self, prefix: str) -> builtins.list[LakeObject]: ...

    def fetch(self, keys: Iterable[str], into: Path) -> builtins.list[Path]:
        """Local files holding the objects, in the order of ``keys``."""
        ...

    def put(self, key: str, path: Path) -> None: ...

    def delete(self, keys: Iterable[str]) -> None: ...


def local_names(keys: Iterable[str]) -> dict[str, str]:
    """A flat local file name per key: its rank among the keys and the key's suffixes.

    Never the key itself: a key holds data (the dispatcher names outcome objects after an event
    id a merchant chose), and ``into / "../.."`` would write outside the scratch directory. The
    names sort as the keys do: compaction keeps the copy in the first object by (file) name."""
    ranked = sorted(set(keys))
    width = len(str(len(ranked)))
    return {key: f"{i:0{width}d}{_suffix(key)}" for i, key in enumerate(ranked)}


def _suffix(key: str) -> str:
    """``.json.gz``, ``.parquet``: the extension(s) of the key's last segment, if plain."""
    name = key.rsplit("/", 1)[-1]
    match = _SUFFIX.search(name)
    return match.group(0) if match else ""


def file_etag(path: Path) -> str:
    """The ETag S3 gives a single-part upload of this file: its MD5."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class S3Lake:
    """The lake bucket through a low-level boto3 S3 client."""

    def __init__(self, s3: Any, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def list(self, prefix: str) -> builtins.list[LakeObject]:
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", ()):
                out.append(LakeObject(obj["Key"], obj.get("ETag", "").strip('"'), obj["Size"]))
        return out

    def fetch(self, keys: Iterable[str], into: Path) -> builtins.list[Path]:
        keys = list(keys)
        names = local_names(keys)
        into.mkdir(parents=True, exist_ok=True)

        def one(key: str) -> Path:
            target = into / names[key]
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            with open(target, "wb") as out:
                shutil.copyfileobj(body, out, 1 << 20)
            return target

        if len(keys) <= 1:
            return [one(k) for k in keys]
        with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="lake") as pool:
            return list(pool.map(one, keys))

    def put(self, key: str, path: Path) -> None:
        with open(path, "rb") as body:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/vnd.apache.parquet",
            )

    def delete(self, keys: Iterable[str]) -> None:
        keys = sorted(keys)
        for start in range(0, len(keys), 1000):  # DeleteObjects' limit
            chunk = keys[start : start + 1000]
            self.s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            )


class LocalLake:
    """A directory laid out like the bucket (benchmarks, a synced mirror). Files are read in
    place; the ETag stands in as the MD5 of the content, like S3's for single-part uploads."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def list(self, prefix: str) -> builtins.list[LakeObject]:
        base = self.root / prefix
        folder = base if prefix.endswith("/") else base.parent
        if not folder.is_dir():
            return []
        out = []
        for path in folder.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.startswith("."):
                stat = path.stat()
                out.append(LakeObject(key, f"{stat.st_mtime_ns:x}-{stat.st_size:x}", stat.st_size))
        return sorted(out)

    def fetch(self, keys: Iterable[str], into: Path) -> builtins.list[Path]:
        return [self.root / k for k in keys]

    def put(self, key: str, path: Path) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)
