"""Submit-time FASTQ check of reads in object storage: localgene's ranged GET of each object's
first 256 KiB vs downloading every object whole and checking the local copies (the baseline a
service without ranged reads would need), on the RNA demo data's 12 FASTQ objects.

    PYTHONPATH=. .venv/bin/python benchmarks/fastq_object_check.py            # moto on loopback
    PYTHONPATH=. .venv/bin/python benchmarks/fastq_object_check.py --repeat 5 --copies 4
                                              # --copies N: each sample's reads N times over
                                              # (bigger objects; the ranged check stays the same)

Both sides HEAD every object first (check_inputs) and check the same pairs with the same
parser; they differ only in how the bytes arrive. Prints wall seconds (median of the rounds),
bytes fetched and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from staging import start_moto

from localgene.demo import rna as demodata_rna
from localgene.jobs import pipeline_inputs
from localgene.storage import S3Config, check_inputs, make_client, read_start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copies", type=int, default=1)
    args = ap.parse_args()
    proc, endpoint = start_moto()
    tmp = Path(tempfile.mkdtemp(prefix="lg-fastq-check-"))
    try:
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
        data = demodata_rna.generate(tmp / "rna").parent
        body = json.loads((data / demodata_rna.JOB).read_text())
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="reads")
        total = 0
        for group in body["inputs"]:
            for sample in group["group_inputs"]:
                keys = []
                for path in sample["files"]:
                    blob = Path(path).read_bytes()
                    if args.copies > 1:  # gzip members concatenated: a valid, larger FASTQ
                        blob = blob * args.copies
                    name = Path(path).name
                    s3.put_object(Bucket="reads", Key=name, Body=blob)
                    total += len(blob)
                    keys.append(f"s3a://reads/{name}")
                sample["files"] = keys
        config = S3Config(endpoint_url=endpoint)
        fields = pipeline_inputs.read_fields(body)
        print(f"{len(fields)} FASTQ objects, {total / 1e6:.1f} MB in all, endpoint {endpoint}")

        def ranged() -> int:
            report = check_inputs(fields, config)
            client = make_client(config)
            fetched = [0]

            def reader(info):
                def read():
                    data_, whole = read_start(info, pipeline_inputs.OBJECT_CHECK_BYTES, client=client)
                    fetched[0] += len(data_)
                    return data_, whole
                return read

            objects = {i.field: (i.location.basename, reader(i)) for i in report.inputs}
            pipeline_inputs.check_fastq(body, {}, objects)
            return fetched[0]

        def download() -> int:
            report = check_inputs(fields, config)
            client = make_client(config)
            folder = Path(tempfile.mkdtemp(dir=tmp))
            local = {}
            for info in report.inputs:
                dest = folder / info.location.basename
                client.download_file(info.location.bucket, info.location.key, str(dest))
                local[info.field] = str(dest)
            pipeline_inputs.check_fastq(body, local)
            size = sum(Path(p).stat().st_size for p in local.values())
            shutil.rmtree(folder)
            return size

        times: dict[str, list[float]] = {"ranged": [], "download": []}
        fetched: dict[str, int] = {}
        for _ in range(args.repeat):
            for name, fn in (("ranged", ranged), ("download", download)):
                t0 = time.perf_counter()
                fetched[name] = fn()
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{'':28}{'wall s (median)':>16}{'MB fetched':>12}")
        print(f"{'localgene (ranged GET)':28}{med['ranged']:>16.3f}{fetched['ranged'] / 1e6:>12.2f}")
        print(f"{'download whole, then check':28}{med['download']:>16.3f}{fetched['download'] / 1e6:>12.2f}")
        print(f"ratio download / localgene: {med['download'] / med['ranged']:.1f}x wall, "
              f"{fetched['download'] / max(1, fetched['ranged']):.1f}x bytes")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
