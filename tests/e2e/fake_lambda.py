#!/usr/bin/env python3
"""A fake Lambda function speaking the Runtime API (used to self-test
runtime_api.py without the Rust binary). Echoes events; {"fail": true}
posts an invocation error; {"crash": N} exits with status N; with
FAKE_INIT_ERROR set it reports an init error naming that variable."""
import http.client
import json
import os
import sys

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=600)  # one keep-alive connection
base = "/2018-06-01/runtime"


def post(path, obj, headers=None):
    data = json.dumps(obj).encode()
    conn.request("POST", base + path, body=data,
                 headers={"Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    r.read()
    assert r.status == 202, r.status


if os.environ.get("FAKE_INIT_ERROR"):
    print(json.dumps({"level": "ERROR", "message": "invalid FAKE_INIT_ERROR"}), file=sys.stderr, flush=True)
    post("/init/error", {"errorType": "Config", "errorMessage": "invalid value for FAKE_INIT_ERROR"},
         {"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigError"})
    sys.exit(1)

while True:
    conn.request("GET", base + "/invocation/next")
    r = conn.getresponse()
    event = json.loads(r.read())
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    meta = {k: r.getheader(k) for k in ("Lambda-Runtime-Deadline-Ms", "Lambda-Runtime-Invoked-Function-Arn",
                                        "Lambda-Runtime-Trace-Id")}
    print(json.dumps({"level": "INFO", "message": "invocation", "request_id": rid}), flush=True)
    if "crash" in event:
        sys.exit(event["crash"])
    if event.get("fail"):
        post(f"/invocation/{rid}/error", {"errorType": "Boom", "errorMessage": "asked to fail"},
             {"Lambda-Runtime-Function-Error-Type": "Runtime.Boom"})
        continue
    post(f"/invocation/{rid}/response", {"echo": event, "request_id": rid, "meta": meta,
                                         "env": {k: os.environ.get(k) for k in (
                                             "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                                             "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_STREAM_NAME",
                                             "AWS_LAMBDA_LOG_GROUP_NAME", "EXTRA")}})
