"""Fixtures for the flowguard end-to-end tests (moto + the real Lambda binary).

Run with:  scripts/with-moto .venv/bin/pytest -q tests/e2e
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from typing import Any, Iterator

import pytest

import e2e_lib as L
from runtime_api import LambdaProcess, default_lambda_bin

# Under pytest-xdist (`make test` runs two workers), each worker talks to its
# own moto server (scripts/with-moto MOTO_SERVERS=2), so tests that use fixed
# resource names (the state table, the Security Hub account) never share one.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_ENDPOINTS = [e for e in os.environ.get("MOTO_ENDPOINTS", "").split(",") if e]
if _WORKER.startswith("gw") and _ENDPOINTS:
    _ep = _ENDPOINTS[int(_WORKER[2:] or 0) % len(_ENDPOINTS)]
    os.environ["MOTO_ENDPOINT"] = _ep
    os.environ["AWS_ENDPOINT_URL"] = _ep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    ep = os.environ.get("MOTO_ENDPOINT")
    if not ep:
        pytest.fail("MOTO_ENDPOINT is not set: run the suite through the moto wrapper:\n"
                    "    scripts/with-moto .venv/bin/pytest -q tests/e2e", pytrace=False)
    host = ep.split("://", 1)[-1].split(":", 1)[0]
    assert host in ("127.0.0.1", "localhost", "[::1]"), f"refusing non-loopback moto endpoint {ep}"
    return ep


@pytest.fixture(scope="session")
def lambda_bin() -> str:
    path = default_lambda_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"flowguard-lambda binary not found at {path}: build it first "
                    "(`cargo build --bin flowguard-lambda`) or set FLOWGUARD_LAMBDA_BIN", pytrace=False)
    return path


@pytest.fixture(scope="session")
def flowguard_bin() -> str:
    path = os.environ.get("FLOWGUARD_BIN") or os.path.join(L.REPO, "target", "debug", "flowguard")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"flowguard CLI not found at {path} (needed for `flowguard generate`): build it "
                    "(`cargo build --bin flowguard`) or set FLOWGUARD_BIN", pytrace=False)
    return path


class Aws:
    """boto3 clients against moto plus the per-test resources."""

    def __init__(self, endpoint: str) -> None:
        import boto3
        from botocore.config import Config

        kw = dict(endpoint_url=endpoint, region_name=L.REGION, aws_access_key_id="testing",
                  aws_secret_access_key="testing")
        self.endpoint = endpoint
        self.s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **kw)
        self.sns = boto3.client("sns", **kw)
        self.sqs = boto3.client("sqs", **kw)
        suffix = uuid.uuid4().hex[:8]
        self.bucket = f"fg-e2e-logs-{suffix}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.topic_arn = self.sns.create_topic(Name=f"flowguard-findings-{suffix}")["TopicArn"]
        # An SQS queue subscribed to the topic (envelope delivery) to read findings back.
        self.findings_queue = self.sqs.create_queue(QueueName=f"findings-{suffix}")["QueueUrl"]
        self.findings_queue_arn = self.queue_arn(self.findings_queue)
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=self.findings_queue_arn,
                           Attributes={"RawMessageDelivery": "false"})
        self.versions: dict[tuple[str, str], str] = {}

    def queue_arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def put(self, key: str, body: bytes, bucket: str | None = None) -> dict[str, Any]:
        bucket = bucket or self.bucket
        resp = self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        if resp.get("VersionId") and resp["VersionId"] != "null":
            self.versions[(bucket, key)] = resp["VersionId"]
        return resp

    def enable_versioning(self, bucket: str | None = None) -> None:
        self.s3.put_bucket_versioning(Bucket=bucket or self.bucket,
                                      VersioningConfiguration={"Status": "Enabled"})

    def keys(self, prefix: str = "", bucket: str | None = None) -> list[str]:
        return L.list_keys(self.s3, bucket or self.bucket, prefix)

    def published(self) -> list[dict[str, Any]]:
        return L.sent_notifications(self.endpoint, self.topic_arn)


@pytest.fixture
def aws(moto_endpoint: str) -> Aws:
    # Fresh moto state for every test.
    req = urllib.request.Request(moto_endpoint + "/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=30).read()
    return Aws(moto_endpoint)


@pytest.fixture
def start_lambda(request: Any, lambda_bin: str, aws: Aws):
    """start_lambda(**env) -> running LambdaProcess with the standard test
    environment (topic, moto endpoint) plus `env`; a value of None removes a
    variable. Processes are terminated at teardown; their output is printed
    when the test failed."""
    procs: list[LambdaProcess] = []

    def start(**env: str | None) -> LambdaProcess:
        base: dict[str, str | None] = {
            "AWS_ENDPOINT_URL": aws.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": L.REGION,
            "AWS_DEFAULT_REGION": L.REGION,
            "FLOWGUARD_TOPIC_ARN": aws.topic_arn,
            "RUST_BACKTRACE": "1",
        }
        # hermetic: no FLOWGUARD_* configuration leaks in from the caller's shell
        base.update({k: None for k in os.environ if k.startswith("FLOWGUARD_")})
        base.update(env)
        fn = LambdaProcess(lambda_bin, base)  # None values unset inherited variables
        procs.append(fn)
        return fn.start()

    yield start
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for fn in procs:
        fn.close()
        if failed:
            print(f"\n===== flowguard-lambda pid {fn.pid} (exit {fn.returncode}) output =====")
            print(fn.output_tail(200))
