"""Staging throughput: localgene's stage_inputs vs a plain boto3 download_file, and a cache hit.

    .venv/bin/python benchmarks/staging.py                 # moto server on loopback, 256 MB
    .venv/bin/python benchmarks/staging.py --size-mb 1024 --repeat 5
    .venv/bin/python benchmarks/staging.py --endpoint-url http://127.0.0.1:9000 --bucket bench
                                                            # a real endpoint (MinIO, Ceph, ...)
                                                            # with credentials from the environment

Each round uses a fresh cache (a cold stage downloads the object, verifies it and renames it
into the cache) and a fresh file for download_file; rounds alternate so that neither side
profits from a warmer endpoint. The cache-hit restage stages the same object for a new job.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from localgene.storage import Cache, S3Config, stage_inputs
from localgene.storage.client import transfer_config
from localgene.storage.stage import _md5_parts

MB = 1_000_000
MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("moto server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=256, help="object size in MiB (default 256)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per measurement (default 3)")
    ap.add_argument("--endpoint-url", help="use this endpoint instead of a local moto server")
    ap.add_argument("--bucket", default="localgene-bench")
    ap.add_argument("--workdir", help="scratch folder (default: a temporary one)")
    args = ap.parse_args()

    proc = None
    if args.endpoint_url:
        endpoint = args.endpoint_url
    else:
        for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            os.environ.setdefault(name, value)
        proc, endpoint = start_moto()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lg-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    size = args.size_mb * MiB
    key = f"bench/object-{args.size_mb}MiB.bam"
    try:
        config = S3Config(endpoint_url=endpoint)
        client = boto3.client("s3", endpoint_url=endpoint,
                              config=boto3.session.Config(s3={"addressing_style": "path"}))
        try:
            client.create_bucket(Bucket=args.bucket)
        except client.exceptions.ClientError as exc:
            if "BucketAlready" not in str(exc):
                raise
        src = work / "source.bin"
        with open(src, "wb") as fh:
            block = os.urandom(MiB)
            for _ in range(args.size_mb):
                fh.write(block)
        t = time.perf_counter()
        client.upload_file(str(src), args.bucket, key)
        upload_s = time.perf_counter() - t
        src.unlink()
        url = f"s3a://{args.bucket}/{key}"

        same = transfer_config(config)  # the one localgene's staging uses
        plain, tuned, cold, hit = [], [], [], []
        for r in range(args.repeat):
            for times, kwargs in ((plain, {}), (tuned, {"Config": same})):
                dest = work / f"plain-{r}.bin"
                t = time.perf_counter()
                client.download_file(args.bucket, key, str(dest), **kwargs)
                times.append(time.perf_counter() - t)
                dest.unlink()

            cache = Cache(work / f"cache-{r}")
            t = time.perf_counter()
            stage_inputs({"ref": url}, config, cache, work / f"job-{r}-a", job_id=f"a{r}")
            cold.append(time.perf_counter() - t)

            t = time.perf_counter()
            stage_inputs({"ref": url}, config, cache, work / f"job-{r}-b", job_id=f"b{r}")
            hit.append(time.perf_counter() - t)
            staged = next(cache.path.glob("objects/*/*/*"))
            if r == args.repeat - 1:
                t = time.perf_counter()
                part = client.head_object(Bucket=args.bucket, Key=key, PartNumber=1)["ContentLength"]
                _md5_parts(staged, part)
                verify_s = time.perf_counter() - t
            shutil.rmtree(cache.path)

        def mbps(seconds: float) -> float:
            return size / MB / seconds

        p, c, h = statistics.median(plain), statistics.median(cold), statistics.median(hit)
        q = statistics.median(tuned)
        where = endpoint + ("" if args.endpoint_url else " (moto server, loopback)")
        print(f"endpoint            {where}")
        print(f"object              {args.size_mb} MiB ({size / MB:.0f} MB), multipart upload "
              f"{upload_s:.2f} s; median of {args.repeat} rounds")
        print(f"boto3 download_file {p:7.2f} s  {mbps(p):8.1f} MB/s  (boto3 defaults: 8 MiB parts)")
        print(f"  same TransferConfig {q:5.2f} s  {mbps(q):8.1f} MB/s  "
              f"({config.multipart_chunksize // MiB} MiB parts, {config.max_concurrency} threads, "
              f"as stage_inputs)")
        print(f"stage_inputs, cold  {c:7.2f} s  {mbps(c):8.1f} MB/s  "
              f"(download + verify + rename into the cache)")
        print(f"  of which verify   {verify_s:7.2f} s  (multipart-ETag MD5 over the file)")
        print(f"stage_inputs, hit   {h:7.3f} s  {mbps(h):8.0f} MB/s equivalent (HEAD + link)")
        print(f"ratio cold/plain    {c / p:7.2f}x time  ({mbps(c) / mbps(p):.2f}x throughput)")
        print(f"ratio cold/same     {c / q:7.2f}x time  ({mbps(c) / mbps(q):.2f}x throughput)")
        print(f"ratio hit/plain     {h / p:7.4f}x time  ({p / h:.0f}x faster than downloading)")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
