"""Self-tests of the local Lambda Runtime API harness (no Rust binary needed)."""
import os
import time

import pytest

from runtime_api import FUNCTION_ARN, LambdaCrashed, LambdaProcess

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_lambda.py")


def test_invoke_response_error_and_metadata():
    with LambdaProcess(FAKE, {"EXTRA": "x"}) as fn:
        status, body = fn.invoke({"hello": "world"}, timeout=30)
        assert status == "ok"
        assert body["echo"] == {"hello": "world"}
        assert body["meta"]["Lambda-Runtime-Invoked-Function-Arn"] == FUNCTION_ARN
        deadline = int(body["meta"]["Lambda-Runtime-Deadline-Ms"])
        assert 250_000 < deadline - time.time() * 1000 <= 300_000
        assert body["meta"]["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
        assert body["env"] == {
            "AWS_LAMBDA_FUNCTION_NAME": "flowguard", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "test",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/flowguard", "EXTRA": "x"}
        # errors are reported and the process keeps serving
        status, body = fn.invoke({"fail": True}, timeout=30)
        assert (status, body["errorType"]) == ("error", "Boom")
        ids = set()
        for i in range(5):
            status, body = fn.invoke({"n": i}, timeout=30)
            assert status == "ok" and body["echo"] == {"n": i}
            ids.add(body["request_id"])
        assert len(ids) == 5
        assert fn.peak_rss_kb() > 1000
        assert fn.wait_json_logs(lambda r: r.get("message") == "invocation", stderr_only=False)
    assert fn.returncode is not None  # terminated on exit
    assert fn.peak_rss_kb() > 1000  # still known after exit


def test_crash_is_reported_with_output():
    with LambdaProcess(FAKE) as fn:
        with pytest.raises(LambdaCrashed, match="exited with status 3"):
            fn.invoke({"crash": 3}, timeout=30)


def test_init_error_is_captured():
    with LambdaProcess(FAKE, {"FAKE_INIT_ERROR": "1"}) as fn:
        rc, errors = fn.wait_init_failure(timeout=20)
        assert rc == 1
        assert "FAKE_INIT_ERROR" in errors[0]["body"]["errorMessage"]
        assert any("FAKE_INIT_ERROR" in line for line in fn.stderr_lines)


def test_missing_binary_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="FLOWGUARD_LAMBDA_BIN"):
        LambdaProcess(str(tmp_path / "nope")).start()
