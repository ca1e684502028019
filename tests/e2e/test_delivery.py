"""Where findings go (SPEC section 10) through the real Lambda binary, with S3,
SNS, SQS, DynamoDB, EC2, Security Hub and EventBridge all served by moto.

The scenario of issue 22: 64 instances made with `run_instances`, and 64
default-format (v2) objects, each exposing SSH on a different instance's
interface, delivered in a burst to four concurrent function processes. The
email rate guard keeps the topic at 30 messages a minute, holds the rest in
the state table, and a scheduled event a minute later sends them as a digest.
Every finding reaches Security Hub (ASFF) and an EventBridge bus whose rule
targets an SQS queue; the emails name each instance, which only EC2 knows (a
v2 record has no instance-id). A later object re-notifies one finding, which
Security Hub updates in place.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from typing import Any

import e2e_lib as L
from conftest import Aws
from test_correlation import TABLE, create_table
from test_lambda import invoke_ok

INSTANCES = 64
PROCESSES = 4
BUDGET = 30
BUS = "flowguard-security"
PRODUCT_ARN = f"arn:aws:securityhub:{L.REGION}:{L.ACCOUNT}:product/{L.ACCOUNT}/default"
SCHEDULE = {
    "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": L.ACCOUNT, "time": "2025-06-26T19:00:00Z", "region": L.REGION,
    "resources": [f"arn:aws:events:{L.REGION}:{L.ACCOUNT}:rule/flowguard-held"], "detail": {},
}


def clients(aws: Aws) -> dict[str, Any]:
    import boto3

    kw = dict(endpoint_url=aws.endpoint, region_name=L.REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    return {name: boto3.client(name, **kw) for name in ("ec2", "securityhub", "events")}


def bus_queue(aws: Aws, events: Any) -> str:
    """An EventBridge bus with a rule on flowguard's findings targeting an
    SQS queue; returns the queue URL."""
    url = aws.sqs.create_queue(QueueName=f"{BUS}-events")["QueueUrl"]
    events.create_event_bus(Name=BUS)
    events.put_rule(Name="flowguard-findings", EventBusName=BUS,
                    EventPattern=json.dumps({"source": ["flowguard"], "detail-type": ["flowguard Finding"]}))
    events.put_targets(Rule="flowguard-findings", EventBusName=BUS,
                       Targets=[{"Id": "queue", "Arn": aws.queue_arn(url)}])
    return url


def exposure(eni: str, private_ip: str, n: int, start: int) -> list[str]:
    """SSH on `private_ip` accepting three flows from one internet address."""
    peer = f"198.51.{100 + n // 200}.{1 + n % 200}"
    return [L.flow(peer, private_ip, 50000 + k, 22, start=start + 20 * k, action="ACCEPT", eni=eni)
            for k in range(3)]


def object_key(n: int) -> str:
    minute = 10 + n % 45
    return L.aws_key(ts=f"20250626T18{minute:02d}Z", suffix=f"{n:08x}")


def published(aws: Aws, envelopes: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message on the topic: moto's record (with the email part)
    joined with the SQS subscriber's envelope (with SNS's Timestamp);
    `envelopes` keeps those already received."""
    for m in L.drain_queue(aws.sqs, aws.findings_queue, wait=2.0):
        body = json.loads(m["Body"])
        envelopes[body["MessageId"]] = body
    out = []
    for n in aws.published():
        parts = json.loads(n["message"])
        env = envelopes.get(n["message_id"])
        assert env is not None, f"message {n['message_id']} never reached the subscriber queue"
        out.append({"id": n["message_id"], "at": env["Timestamp"], "default": json.loads(parts["default"]),
                    "email": parts["email"]})
    return out


def paragraphs(email: str) -> dict[str, str]:
    """finding id -> the email's paragraph about it."""
    out = {}
    for block in email.split("\n\n"):
        m = re.search(r"^Id (fg-[0-9a-f]{16}), ATT&CK", block, re.M)
        if m:
            out[m[1]] = block
    return out


def burst(processes: list[Any], events: list[dict[str, Any]]) -> list[Any]:
    """Each event to one of the processes, the processes working at once."""
    answers: list[Any] = [None] * len(events)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(i, len(events), len(processes)):
                answers[j] = invoke_ok(processes[i], events[j])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(processes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return answers


def metric(processes: list[Any], name: str) -> int:
    return sum(j.get(name, 0) for fn in processes for j in fn.json_logs() if "_aws" in j)


def test_sixty_four_instances_in_a_burst_reach_every_sink_within_the_email_budget(aws: Aws, start_lambda: Any):
    c = clients(aws)
    create_table(aws)
    queue = bus_queue(aws, c["events"])
    c["securityhub"].enable_security_hub()
    reservation = c["ec2"].run_instances(ImageId="ami-12c6146b", MinCount=INSTANCES, MaxCount=INSTANCES,
                                         InstanceType="t3.micro")
    instances = [(i["InstanceId"], i["NetworkInterfaces"][0]["NetworkInterfaceId"], i["PrivateIpAddress"])
                 for i in reservation["Instances"]]
    assert len({eni for _, eni, _ in instances}) == INSTANCES
    instance_of_eni = {eni: iid for iid, eni, _ in instances}

    keys = []
    for n, (_, eni, ip) in enumerate(instances):
        key = object_key(n)
        aws.put(key, L.gz(L.flowlog_text(exposure(eni, ip, n, L.T0 + 30 * (n % 45)))))
        keys.append(key)

    env = dict(FLOWGUARD_STATE_TABLE=TABLE, FLOWGUARD_SECURITY_HUB="true", FLOWGUARD_EVENT_BUS=BUS,
               FLOWGUARD_ENRICH="ec2", FLOWGUARD_RENOTIFY_SECONDS="600",
               FLOWGUARD_MAX_MESSAGES_PER_MINUTE=str(BUDGET))
    processes = [start_lambda(**env) for _ in range(PROCESSES)]
    # 64 objects: over a budget of 30 even when the burst spans two minutes.
    started = time.time()
    burst(processes, [L.s3_notification(aws.bucket, k) for k in keys])
    burst_seconds = time.time() - started
    held = metric(processes, "NotificationsHeld")
    assert held > 0, f"the burst of {INSTANCES} took {burst_seconds:.0f} s and nothing was held"

    # A minute later, the schedule sends what was held.
    time.sleep(60 - time.time() % 60 + 1)
    answer = invoke_ok(processes[0], SCHEDULE)
    assert answer["held_sent"] >= 1, answer

    envelopes: dict[str, Any] = {}
    messages = published(aws, envelopes)
    per_minute = Counter(m["at"][:16] for m in messages)
    assert max(per_minute.values()) <= BUDGET, per_minute
    delivered = Counter(f["finding_id"] for m in messages for f in m["default"]["findings"])
    assert len(delivered) == INSTANCES, f"{len(delivered)} findings delivered: {delivered}"
    assert set(delivered.values()) == {1}, [k for k, v in delivered.items() if v > 1]
    assert len(messages) < INSTANCES, "the held notifications came as one digest, not one message each"
    digests = [m for m in messages if m["default"]["held"] > 0]
    assert sum(m["default"]["held"] for m in digests) == held, (held, [m["default"]["held"] for m in digests])
    print(f"\nburst of {INSTANCES} objects in {burst_seconds:.1f} s: {len(messages)} messages, "
          f"{held} held, digests {[m['default']['held'] for m in digests]}, per minute {dict(per_minute)}")

    # Every paragraph names its instance, which only EC2 knows.
    findings = {f["finding_id"]: f for m in messages for f in m["default"]["findings"]}
    for m in messages:
        for fid, text in paragraphs(m["email"]).items():
            (eni,) = findings[fid]["interface_ids"]
            assert instance_of_eni[eni] in text, text
            assert f"https://{L.REGION}.console.aws.amazon.com/ec2/" in text, text
            assert f"FROM flowguard.findings WHERE finding_id = '{fid}'" in text, text
            assert "To do: " in text, text
    assert sum(len(paragraphs(m["email"])) for m in messages) == INSTANCES
    for f in findings.values():
        assert f["instance_ids"] == [instance_of_eni[f["interface_ids"][0]]], f
        assert f["resources"][0]["instance_id"] == f["instance_ids"][0]
        assert f["resources"][0]["security_group_ids"], f["resources"]

    # Security Hub: one ASFF finding per finding, with the fields SPEC 10 lists.
    hub = c["securityhub"].get_findings(MaxResults=100)["Findings"]
    assert sorted(a["Id"] for a in hub) == sorted(findings)
    for a in hub:
        f = findings[a["Id"]]
        assert a["SchemaVersion"] == "2018-10-08" and a["ProductArn"] == PRODUCT_ARN
        assert a["GeneratorId"] == "flowguard/admin-port-exposed" and a["AwsAccountId"] == L.ACCOUNT
        assert a["Types"] and all(t.count("/") >= 1 for t in a["Types"]), a["Types"]
        assert a["Severity"]["Label"] == "HIGH" and a["Title"] == f["title"]
        assert a["FirstObservedAt"] == f["first_seen"] and a["LastObservedAt"] == f["last_seen"]
        assert a["CreatedAt"] and a["UpdatedAt"] and a["Description"]
        resource = a["Resources"][0]
        assert resource["Type"] == "AwsEc2Instance"
        assert resource["Id"] == f"arn:aws:ec2:{L.REGION}:{L.ACCOUNT}:instance/{f['instance_ids'][0]}"
        action = a["Action"]
        assert action["ActionType"] == "NETWORK_CONNECTION" and "Network" not in a
        conn = action["NetworkConnectionAction"]
        assert conn["ConnectionDirection"] == "IN" and conn["Protocol"] == "TCP"
        assert conn["RemoteIpDetails"]["IpAddressV4"] == f["src_addrs"][0]
        assert conn["LocalPortDetails"]["Port"] == 22
        assert a["Remediation"]["Recommendation"]["Text"]
        assert a["ProductFields"]["flowguard/count"] == "1"

    # EventBridge: one event per finding on the bus, through the rule.
    events = [json.loads(m["Body"]) for m in L.drain_queue(aws.sqs, queue, expect=INSTANCES, wait=10)]
    assert sorted(e["detail"]["finding_id"] for e in events) == sorted(findings)
    for e in events:
        assert e["source"] == "flowguard" and e["detail-type"] == "flowguard Finding"
        assert e["resources"] == [
            f"arn:aws:ec2:{L.REGION}:{L.ACCOUNT}:instance/{e['detail']['instance_ids'][0]}",
            f"arn:aws:ec2:{L.REGION}:{L.ACCOUNT}:network-interface/{e['detail']['interface_ids'][0]}",
        ], e["resources"]

    # Twenty minutes of event time later the first exposure is seen again:
    # re-notified, and updated in place in Security Hub.
    iid, eni, ip = instances[0]
    again = L.aws_key(ts="20250626T1840Z", suffix="a9a1n000")
    aws.put(again, L.gz(L.flowlog_text(exposure(eni, ip, 0, L.T0 + 1800))))
    time.sleep(1)
    invoke_ok(processes[1], L.s3_notification(aws.bucket, again))
    if metric(processes, "NotificationsHeld") > held:
        time.sleep(60 - time.time() % 60 + 1)
        invoke_ok(processes[2], SCHEDULE)
    hub = c["securityhub"].get_findings(MaxResults=100)["Findings"]
    assert len(hub) == INSTANCES, "a re-notification must update the finding, not add one"
    first = next(f for f in findings.values() if f["interface_ids"] == [eni])
    (updated,) = [a for a in hub if a["Id"] == first["finding_id"]]
    assert updated["ProductFields"]["flowguard/count"] == "2"
    assert updated["LastObservedAt"] > first["last_seen"] and updated["FirstObservedAt"] == first["first_seen"]
    events = [json.loads(m["Body"]) for m in L.drain_queue(aws.sqs, queue, expect=1, wait=10)]
    assert [e["detail"]["finding_id"] for e in events] == [first["finding_id"]]
    renotified = [f for m in published(aws, envelopes)[len(messages):] for f in m["default"]["findings"]]
    assert [f["finding_id"] for f in renotified] == [first["finding_id"]]
    assert renotified[0]["occurrences"] == 2 and renotified[0]["instance_ids"] == [iid]


def test_a_process_killed_between_claiming_and_sending_held_notifications_loses_none(
        aws: Aws, start_lambda: Any) -> None:
    """Four processes on one state table and a budget of 3 messages a
    minute; a burst of 12 new findings holds most of them. A fifth process,
    whose SNS never answers and whose invocations have a 5-s deadline,
    takes the schedule: it claims every held notification and is killed
    while it publishes. Nobody takes a live claim; once the claim ends (just
    past the dead invocation's deadline) the next schedule sends them all,
    each once, and no minute carries more than the budget."""
    from faultproxy import FaultProxy

    budget, objects = 3, 12
    create_table(aws)
    keys = []
    for n in range(objects):
        key = object_key(n)
        eni = f"eni-0c0ffee0000{n:06x}"
        aws.put(key, L.gz(L.flowlog_text(exposure(eni, f"10.0.7.{n + 1}", n, L.T0 + 30 * n))))
        keys.append(key)
    env = dict(FLOWGUARD_STATE_TABLE=TABLE, FLOWGUARD_MAX_MESSAGES_PER_MINUTE=str(budget))
    processes = [start_lambda(**env) for _ in range(PROCESSES)]
    burst(processes, [L.s3_notification(aws.bucket, k) for k in keys])
    held = metric(processes, "NotificationsHeld")
    assert held >= objects - 2 * budget, f"{held} held"

    publishing = threading.Event()

    def hang(body: bytes) -> tuple[int, bytes]:
        publishing.set()
        time.sleep(60)
        return 500, b""

    with FaultProxy(aws.endpoint) as sns:
        sns.answer("/", hang)
        doomed = start_lambda(AWS_ENDPOINT_URL_SNS=sns.endpoint, **env)
        doomed.server.deadline_seconds = 5
        time.sleep(60 - time.time() % 60 + 1)  # a minute with budget
        doomed.server.enqueue(SCHEDULE)
        assert publishing.wait(30), "the doomed process never published\n" + doomed.output_tail()
        killed_at = time.time()
        assert doomed.proc is not None
        doomed.proc.kill()
        doomed.proc.wait(10)

    # The claim is live: the schedule on a healthy process sends nothing.
    assert invoke_ok(processes[0], SCHEDULE)["held_sent"] == 0
    # Past the dead invocation's deadline (5 s) and the claim's margin
    # (30 s): the next schedule sends everything held.
    time.sleep(max(0.0, killed_at + 5 + 30 + 2 - time.time()))
    sent = 0
    for _ in range(3):
        sent += invoke_ok(processes[1], SCHEDULE)["held_sent"]
        if sent >= held:
            break
        time.sleep(60 - time.time() % 60 + 1)
    assert sent == held, (sent, held)

    envelopes: dict[str, Any] = {}
    messages = published(aws, envelopes)
    per_minute = Counter(m["at"][:16] for m in messages)
    assert max(per_minute.values()) <= budget, per_minute
    delivered = Counter(f["finding_id"] for m in messages for f in m["default"]["findings"])
    assert len(delivered) == objects, f"{len(delivered)} of {objects} findings delivered"
    assert set(delivered.values()) == {1}, [k for k, v in delivered.items() if v > 1]
