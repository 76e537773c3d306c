"""The rollup's scratch files are named by the rollup, never by the data in an object key."""

from __future__ import annotations

from chalicelib.aws.clients import client
from chalicelib.aws.names import Names
from chalicelib.rollup.lake import S3Lake

HOUR = "platform-events/dt=2026-11-23/hour=12/"
# The dispatcher names an outcome object after the batch's first event id, which the merchant
# chose: "../" in it must not walk out of the scratch directory.
HOSTILE = HOUR + "meta-20261123T120000000000-../../../../../../../../escaped.json.gz"
PLAIN = HOUR + "meta-20261123T120100000000-order-1.json.gz"


def test_an_object_key_with_dot_dot_segments_stays_inside_the_scratch_directory(aws, tmp_path):
    names = Names.from_env()
    s3 = client("s3")
    bucket = names.lake_bucket_name()
    s3.put_object(Bucket=bucket, Key=HOSTILE, Body=b"hostile")
    s3.put_object(Bucket=bucket, Key=PLAIN, Body=b"plain")
    into = tmp_path / "scratch" / "hour" / "events"

    files = S3Lake(s3, bucket).fetch([PLAIN, HOSTILE], into)

    assert [f.read_bytes() for f in files] == [b"plain", b"hostile"]  # in the order of the keys
    for f in files:
        assert f.resolve().is_relative_to(into.resolve()), f
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(files)  # nothing anywhere else
    # Compaction keeps the copy in the first object by key: local names sort as the keys do.
    by_name = sorted(zip(files, [PLAIN, HOSTILE], strict=True), key=lambda pair: str(pair[0]))
    assert [key for _, key in by_name] == sorted([PLAIN, HOSTILE])
