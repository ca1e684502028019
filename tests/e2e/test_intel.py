"""Threat lists and suppressions (SPEC section 8) through the real Lambda
binary, with the lists in moto S3: read at start with the function's
credentials, a list that cannot be read or parsed fails the start, an
updated list is read again once its ETag changed (FLOWGUARD_INTEL_REFRESH_SECONDS
shortens the 5-minute interval for the test), a broken update keeps the
previous list, and a suppressed finding is written with its reason but never
published, per object and with the correlation store.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import e2e_lib as L
from conftest import Aws
from test_correlation import TABLE, create_table
from test_lambda import invoke_ok

C2 = "198.51.100.250"
HOST = "10.0.0.15"
INTEL_KEY = "lists/intel.csv"
TOR_KEY = "lists/tor-exits.txt"
EXCEPTIONS_KEY = "lists/exceptions.csv"

INTEL = ("ip,label,severity\n"
         f"{C2},c2 beacon host,\n"
         "203.0.113.0/24,scanner net,medium\n")
TOR = "# tor exits\n2001:db8:bad::/48\n"


def url(aws: Aws, key: str) -> str:
    return f"s3://{aws.bucket}/{key}"


def c2_lines() -> list[str]:
    """Our host to the C2 server and its reply, an address of the listed /24
    reaching a host, an IPv6 listed address, and rejected probes from a
    listed address that alone are no finding."""
    return [
        L.flow(HOST, C2, 50000, 443, nbytes=4000),
        L.flow(C2, HOST, 443, 50000, nbytes=12000),
        L.flow("203.0.113.7", "10.0.1.20", 40000, 8443),
        L.flow("fd00::10", "2001:db8:bad::5", 40000, 443, nbytes=2500),
        *[L.flow("203.0.113.99", "10.0.1.21", 40000 + i, 22, action="REJECT") for i in range(3)],
        *L.benign_lines(5),
    ]


def findings(aws: Aws, key: str) -> list[dict[str, Any]]:
    return L.read_ndjson_gz(aws.s3, aws.bucket, L.summary_key(key, "findings"))


def published(aws: Aws) -> list[dict[str, Any]]:
    """The findings of every SNS message, in order."""
    return [f for m in aws.published() for f in json.loads(json.loads(m["message"])["default"])["findings"]]


def logs(fn: Any, message: str) -> list[dict[str, Any]]:
    """The fields of the log lines with `message` (waiting for the first)."""
    return [j["fields"] for j in fn.wait_json_logs(lambda j: message in j.get("fields", {}).get("message", ""))]


def matches(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["subject"]: r for r in rows if r["rule"] == "threat-intel-match"}


def test_lists_in_s3_are_read_at_start_and_match_in_both_directions(aws: Aws, start_lambda: Any) -> None:
    aws.put(INTEL_KEY, INTEL.encode())
    aws.put(TOR_KEY, TOR.encode())
    key = L.aws_key("20250626T1820Z", "1e7e1001")
    aws.put(key, L.gz(L.flowlog_text(c2_lines())))
    fn = start_lambda(FLOWGUARD_THREAT_LISTS=f"{url(aws, INTEL_KEY)},{url(aws, TOR_KEY)}")
    invoke_ok(fn, L.s3_notification(aws.bucket, key))
    loaded = {f["list"]: f["entries"] for f in logs(fn, "list loaded")}
    assert loaded == {url(aws, INTEL_KEY): 2, url(aws, TOR_KEY): 1}, loaded
    rows = findings(aws, key)
    for r in rows:
        assert r["suppressed"] is False and r["suppression_reason"] is None, r
    found = matches(rows)
    assert set(found) == {C2, "203.0.113.7", "2001:db8:bad::5"}, sorted(found)
    c2 = found[C2]
    assert c2["title"] == ("Our host 10.0.0.15 opened 1 connection to 198.51.100.250 and sent 4 KB, receiving 12 KB "
                           "(c2 beacon host, intel.csv)")
    assert (c2["src_addr"], c2["dst_addrs"], c2["dst_ports"]) == (C2, [HOST], [443])
    assert (c2["severity"], c2["flows"], c2["mitre_attack"]) == ("high", 2, ["T1071"])
    assert found["203.0.113.7"]["severity"] == "medium", "the list's severity column"
    assert found["2001:db8:bad::5"]["title"] == ("Our host fd00::10 opened 1 connection to 2001:db8:bad::5 and sent "
                                                 "2.5 KB (tor-exits.txt)")
    assert found["2001:db8:bad::5"]["direction"] == "outbound"
    # Every match is published (default minimum: medium).
    assert {f["subject"] for f in published(aws) if f["rule"] == "threat-intel-match"} == set(found)


def test_an_updated_list_is_read_again_once_its_etag_changed(aws: Aws, start_lambda: Any) -> None:
    aws.put(INTEL_KEY, f"ip,label\n{C2},c2 beacon host\n".encode())
    fn = start_lambda(FLOWGUARD_THREAT_LISTS=url(aws, INTEL_KEY), FLOWGUARD_INTEL_REFRESH_SECONDS="1")

    def run(suffix: str) -> set[str]:
        key = L.aws_key("20250626T1820Z", suffix)
        aws.put(key, L.gz(L.flowlog_text([L.flow(HOST, C2, 50000, 443),
                                          L.flow(HOST, "192.0.2.66", 50001, 443)])))
        invoke_ok(fn, L.s3_notification(aws.bucket, key))
        return set(matches(findings(aws, key)))

    assert run("e7a90001") == {C2}
    # The feed job rewrites the list: a new ETag.
    aws.put(INTEL_KEY, b"ip,label\n192.0.2.66,new c2\n")
    time.sleep(1.2)
    assert run("e7a90002") == {"192.0.2.66"}
    assert [f["list"] for f in logs(fn, "read again")] == [url(aws, INTEL_KEY)]
    # Unchanged: checked (a conditional GET answered 304), not read again.
    time.sleep(1.2)
    assert run("e7a90003") == {"192.0.2.66"}
    assert len(logs(fn, "read again")) == 1
    # A broken update is refused: the previous list stays, an error names the line.
    aws.put(INTEL_KEY, b"ip,label\n192.0.2.66,new c2\n192.0.2.300,typo\n")
    time.sleep(1.2)
    assert run("e7a90004") == {"192.0.2.66"}
    errors = logs(fn, "could not be read again")
    assert len(errors) == 1 and errors[0]["list"] == url(aws, INTEL_KEY) and errors[0]["line"] == 3, errors


@pytest.mark.parametrize("case", ["missing", "broken", "local path", "broken suppression"])
def test_a_list_that_cannot_be_used_fails_the_start(case: str, aws: Aws, start_lambda: Any) -> None:
    aws.put(INTEL_KEY, b"ip\n198.51.100.1\n198.51.100.300\n")
    aws.put(EXCEPTIONS_KEY, b"rule,cidr,reason\n*,10.0.0.5,bastion\nport-scn,1.2.3.4,typo\n")
    env, says = {
        "missing": ({"FLOWGUARD_THREAT_LISTS": url(aws, "lists/none.csv")}, url(aws, "lists/none.csv")),
        "broken": ({"FLOWGUARD_THREAT_LISTS": url(aws, INTEL_KEY)},
                   f"{url(aws, INTEL_KEY)}: line 3: '198.51.100.300' is not an IPv4 or IPv6 address"),
        "local path": ({"FLOWGUARD_THREAT_LISTS": "lists/intel.csv"}, "FLOWGUARD_THREAT_LISTS"),
        "broken suppression": ({"FLOWGUARD_SUPPRESS_LISTS": url(aws, EXCEPTIONS_KEY)},
                               f"{url(aws, EXCEPTIONS_KEY)}: line 3: no rule named 'port-scn'"),
    }[case]
    fn = start_lambda(**env)
    rc, init_errors = fn.wait_init_failure(timeout=30)
    text = "\n".join(fn.log_lines()) + json.dumps(init_errors)
    assert rc is not None and rc != 0, f"{case}: still running or exit 0\n{fn.output_tail()}"
    assert says in text, f"{case}: the start-up error does not say {says!r}\n{fn.output_tail()}"


EXCEPTIONS = ("rule,cidr,port,reason,expires\n"
              "admin-port-exposed,10.0.0.5/32,22,the bastion is open by design,2999-12-31\n"
              "admin-port-brute-force,198.51.100.0/24,,expired partner exception,2020-01-01\n")


@pytest.mark.parametrize("correlated", [False, True], ids=["per-object", "correlated"])
def test_a_suppressed_finding_is_written_but_never_published(correlated: bool, aws: Aws,
                                                              start_lambda: Any) -> None:
    aws.put(EXCEPTIONS_KEY, EXCEPTIONS.encode())
    key = L.aws_key("20250626T1820Z", "5e5e0001")
    # SSH on 10.0.0.5 open to 198.51.100.7, which also brute-forces it.
    aws.put(key, L.gz(L.flowlog_text(L.brute_force_lines(25))))
    env = {"FLOWGUARD_SUPPRESS_LISTS": url(aws, EXCEPTIONS_KEY)}
    if correlated:
        create_table(aws)
        env["FLOWGUARD_STATE_TABLE"] = TABLE
    fn = start_lambda(**env)
    invoke_ok(fn, L.s3_notification(aws.bucket, key))
    rows = {r["rule"]: r for r in findings(aws, key)}
    exposed, brute = rows["admin-port-exposed"], rows["admin-port-brute-force"]
    assert (exposed["suppressed"], exposed["suppression_reason"], exposed["notified"]) == \
        (True, "the bastion is open by design", False)
    # The brute-force exception expired in 2020: not applied.
    assert (brute["suppressed"], brute["suppression_reason"], brute["notified"]) == (False, None, True)
    assert [f["rule"] for f in published(aws)] == ["admin-port-brute-force"]
    metrics = fn.wait_json_logs(lambda j: "_aws" in j, stderr_only=False)
    assert [m["Suppressed"] for m in metrics] == [1], metrics
    assert [m["Notifications"] for m in metrics] == [1], metrics
    # A later object with the same exposure: still suppressed, still silent.
    later = L.aws_key("20250626T1825Z", "5e5e0002")
    aws.put(later, L.gz(L.flowlog_text(L.brute_force_lines(3))))
    invoke_ok(fn, L.s3_notification(aws.bucket, later))
    later_rows = {r["rule"]: r for r in findings(aws, later)}
    assert later_rows["admin-port-exposed"]["suppressed"] is True
    assert [f["rule"] for f in published(aws)] == ["admin-port-brute-force"]
