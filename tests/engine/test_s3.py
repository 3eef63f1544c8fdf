"""S3 input and output through moto's server: manifest and images in a bucket, presigned URLs in
the HITs, Ground Truth's output tree written back to the bucket."""

from __future__ import annotations

import io
import json

import boto3
import pytest
import yaml

from broker import storage
from broker.daemon import run_cycle
from broker.stages.submit import submit_job
from tests.engine.conftest import WORKERS_DEFAULT, answer_open_hits, hit_data_object, truthful


@pytest.fixture()
def moto_s3(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    storage.forget_clients()
    try:
        yield f"http://{host}:{port}"
    finally:
        storage.forget_clients()
        server.stop()


def test_s3_manifest_images_and_output(tmp_path, market, moto_s3):
    from PIL import Image

    from broker import mturk
    from broker.settings import load_settings
    from broker.store import dispose_engine, get_engine

    settings = load_settings(
        db_url=f"sqlite:///{tmp_path}/broker.db", local_endpoint_url=market.endpoint_url, s3_endpoint_url=moto_s3
    )
    mturk.forget_clients()
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    s3.create_bucket(Bucket="labels")
    truth, lines = {}, []
    for i, (label, color) in enumerate([("red", (255, 0, 0)), ("blue", (0, 0, 255)), ("red", (250, 5, 5))]):
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4), color).save(buffer, format="PNG")
        key = f"in/img-{i}.png"
        s3.put_object(Bucket="labels", Key=key, Body=buffer.getvalue())
        truth[f"s3://labels/{key}"] = label
        lines.append(json.dumps({"source-ref": f"s3://labels/{key}"}))
    s3.put_object(Bucket="labels", Key="in/input.manifest", Body=("\n".join(lines) + "\n").encode())
    spec = {
        "job_name": "s3-job",
        "task_type": "image-classification",
        "labels": ["red", "blue"],
        "input_manifest": "s3://labels/in/input.manifest",
        "output": "s3://labels/out",
        "workers_per_object": 3,
        "reward": "0.05",
        "title": "Colour",
        "description": "Pick the colour.",
        "lifetime_seconds": 3600,
    }
    spec_path = tmp_path / "s3.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    engine = get_engine(settings.db_url)
    try:
        submit_job(spec_path, engine, settings)
        run_cycle(engine, settings)
        hit = next(iter(market.marketplace.hits))
        html = market.marketplace.preview_hit(hit, None).html_content
        src = html[html.index("src=", html.index("<crowd-image-classifier")) :][:300]
        assert src.startswith(f'src="{moto_s3}/labels/in/img-') and "Signature=" in src, src  # presigned
        assert hit_data_object(market.marketplace, hit)["dataObject"]["source-ref"].startswith("s3://labels/in/")
        answer_open_hits(market, truthful(truth), WORKERS_DEFAULT)
        run_cycle(engine, settings)
        run_cycle(engine, settings)
        body = s3.get_object(Bucket="labels", Key="out/s3-job/manifests/output/output.manifest")["Body"].read()
        output = [json.loads(line) for line in body.decode().splitlines()]
        assert [line["s3-job-metadata"]["class-name"] for line in output] == ["red", "blue", "red"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="labels", Prefix="out/s3-job/annotations/")["Contents"]]
        assert sum("/worker-response/iteration-" in k for k in keys) == 3
        assert any("/consolidation-response/iteration-" in k for k in keys)
    finally:
        dispose_engine(settings.db_url)
        mturk.forget_clients()
