#!/usr/bin/env python3
"""Run the real flowguard-lambda binary on a sample event against moto.

    scripts/with-moto .venv/bin/python scripts/invoke.py events/s3-put.json [--records N] [--seed S]

Creates the event's bucket (flowguard-demo-logs) in moto, uploads a generated
flow log (`flowguard generate`, with injected attacks) at every key the event
names, invokes the binary through a local Lambda Runtime API and prints the
answer, the summaries written and the SNS message. Only talks to a loopback
endpoint (AWS_ENDPOINT_URL, as set by scripts/with-moto).
"""
import argparse
import json
import os
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import e2e_lib as L  # noqa: E402
from runtime_api import LambdaProcess, default_lambda_bin  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("event", help="event JSON file, e.g. events/s3-put.json")
    ap.add_argument("--records", type=int, default=20000, help="records per generated object")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--min-severity", default=None, help="FLOWGUARD_MIN_SEVERITY for the function")
    args = ap.parse_args()

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    host = urllib.parse.urlsplit(endpoint).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        print("invoke.py: AWS_ENDPOINT_URL must point at a local moto; run it as\n"
              "  scripts/with-moto .venv/bin/python scripts/invoke.py " + args.event, file=sys.stderr)
        return 2
    lambda_bin = default_lambda_bin()
    cli = os.environ.get("FLOWGUARD_BIN") or os.path.join(L.REPO, "target", "debug", "flowguard")
    for b in (lambda_bin, cli):
        if not os.access(b, os.X_OK):
            print(f"invoke.py: {b} not found; run `cargo build --bins` first", file=sys.stderr)
            return 2

    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
    sns = boto3.client("sns", endpoint_url=endpoint)
    sqs = boto3.client("sqs", endpoint_url=endpoint)

    with open(args.event) as f:
        sample = json.load(f)
    bucket = L.SAMPLE_BUCKET
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    topic = sns.create_topic(Name="flowguard-findings")["TopicArn"]
    queue = sqs.create_queue(QueueName="flowguard-findings-inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)

    _, keys = L.retarget(sample, bucket)
    removal = "ObjectRemoved" in json.dumps(sample)
    versions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, key in enumerate([] if removal else keys):
            body = L.generate_flowlog(cli, args.records, args.seed + i, os.path.join(tmp, f"{i}.log.gz"))
            versions[key] = s3.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId")
            print(f"uploaded s3://{bucket}/{key} ({len(body)} bytes)")
    event, _ = L.retarget(sample, bucket, versions.get)

    env = {"FLOWGUARD_TOPIC_ARN": topic}
    if args.min_severity:
        env["FLOWGUARD_MIN_SEVERITY"] = args.min_severity
    with LambdaProcess(lambda_bin, env) as fn:
        status, answer = fn.invoke(event, timeout=600)
        logs = fn.log_lines()
        peak = fn.peak_rss_kb()
    print(f"\n== function answer ({status}), peak RSS {peak} KiB:")
    print(json.dumps(answer, indent=2))
    print("\n== summaries:")
    for k in L.list_keys(s3, bucket, L.PREFIX):
        print(f"  s3://{bucket}/{k}")
    for n in L.sent_notifications(endpoint, topic):
        msg = json.loads(n["message"])
        default = json.loads(msg["default"])
        print(f"\n== SNS message\nSubject: {n['subject']}")
        print("Attributes: " + json.dumps({k: v.get("Value") for k, v in n["attributes"].items()}))
        print("--- email part ---\n" + msg.get("email", "(none)"))
        print("--- default part (findings elided) ---")
        print(json.dumps({**default, "findings": f"[{len(default.get('findings', []))} findings]"}, indent=2))
    if status != "ok":
        print("\n== function log (tail)\n" + "\n".join(logs[-40:]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
