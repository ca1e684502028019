"""Static checks of infra/template.yaml (the SAM template) and infra/queries/.

Run: .venv/bin/pytest tests/infra/test_template.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra_helpers import (
    QUERIES,
    REPO,
    TEMPLATE,
    as_list,
    load_template,
    pattern_matches,
    render,
    resources_of_type,
    sub_template,
)

# Environment variables the function reads, with the defaults of the template
# parameters behind them (SPEC section 4 and the deployment brief).
ENV_DEFAULTS = {
    "FLOWGUARD_SUMMARY_BUCKET": None,  # the flow-log bucket, computed
    "FLOWGUARD_SUMMARY_PREFIX": "flowguard/",
    "FLOWGUARD_TOPIC_ARN": None,  # the topic
    "FLOWGUARD_MIN_SEVERITY": "medium",
    "FLOWGUARD_TRUSTED_CIDRS": "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7",
    "FLOWGUARD_ADMIN_PORTS": "22,3389",
    "FLOWGUARD_SENSITIVE_PORTS": "23,445,1433,3306,5432,5900,6379,9200,11211,27017",
    "FLOWGUARD_BRUTE_FORCE_THRESHOLD": 20,
    "FLOWGUARD_PORT_SCAN_THRESHOLD": 25,
    "FLOWGUARD_SWEEP_THRESHOLD": 25,
    "FLOWGUARD_REJECTED_THRESHOLD": 100,
    "FLOWGUARD_INSTANCE_PORT_SCAN_THRESHOLD": 25,
    "FLOWGUARD_INSTANCE_SWEEP_THRESHOLD": 25,
    "FLOWGUARD_INSTANCE_BRUTE_FORCE_THRESHOLD": 20,
    "FLOWGUARD_INSTANCE_DOS_THRESHOLD": 1000000,
    "FLOWGUARD_LARGE_UPLOAD_THRESHOLD": 1073741824,
    "FLOWGUARD_BEACONING_THRESHOLD": 10,
    "FLOWGUARD_SUSPICIOUS_EGRESS_PORTS": "3333,4444,5555,6666,6667,7777,9001,9030,14444,45700",
    "FLOWGUARD_EGRESS_ALLOWED_CIDRS": "",
    "FLOWGUARD_TOP_TALKERS": 100,
    "FLOWGUARD_WINDOW_SECONDS": 3600,
    "FLOWGUARD_RENOTIFY_SECONDS": 21600,
    "FLOWGUARD_STATE_TTL_SECONDS": 604800,
    "FLOWGUARD_MAX_STATE_UPDATES": 100,
    "FLOWGUARD_STATE_TABLE": None,  # the state table, when correlating
    "FLOWGUARD_CWL_FIELDS": "",
    "FLOWGUARD_THREAT_LISTS": "",
    "FLOWGUARD_SUPPRESS_LISTS": "",
    "FLOWGUARD_SECURITY_HUB": "false",
    "FLOWGUARD_EVENT_BUS": "",
    "FLOWGUARD_ENRICH": None,  # ec2 when Enrichment is ec2
    "FLOWGUARD_ENRICH_ROLE": None,  # EnrichRoleArn when enriching
    "FLOWGUARD_MAX_MESSAGES_PER_MINUTE": 30,
    "FLOWGUARD_ATHENA_DATABASE": "flowguard",
}

# Glue schema of the summary tables (SPEC section 3). account, region, dt and
# hour are partition keys, never columns.
GLUE_COLUMNS = {
    "files": "source string, bucket string, key string, path string, records bigint, ok bigint, "
    "nodata bigint, skipdata bigint, malformed bigint, malformed_samples array<string>, "
    "first_start bigint, last_end bigint, compressed_bytes bigint, uncompressed_bytes bigint, "
    "findings bigint, untrusted_fields bigint, limits_hit array<string>, fields array<string>, "
    "analyzer_version string, processed_at string",
    "ports": "source string, dstport int, protocol int, action string, flows bigint, packets bigint, "
    "bytes bigint, distinct_sources bigint, distinct_destinations bigint",
    "talkers": "source string, rank int, address string, bytes_in bigint, bytes_out bigint, "
    "packets_in bigint, packets_out bigint, flows_in bigint, flows_out bigint",
    "admin": "source string, srcaddr string, dstaddr string, dstport int, protocol int, action string, "
    "flows bigint, packets bigint, bytes bigint, first_start bigint, last_end bigint",
    "services": "source string, dstaddr string, dstport int, protocol int, flows bigint, "
    "packets bigint, bytes bigint",
    "rejected": "source string, rank int, address string, flows bigint, packets bigint, "
    "distinct_ports bigint, distinct_destinations bigint, first_start bigint, last_end bigint",
    "findings": "finding_id string, rule string, severity string, direction string, title string, "
    "subject string, interface_ids array<string>, instance_ids array<string>, vpc_ids array<string>, "
    "subnet_ids array<string>, src_addr string, src_addrs array<string>, dst_addrs array<string>, "
    "dst_ports array<int>, protocol int, flows bigint, packets bigint, bytes bigint, accepted_flows bigint, "
    "rejected_flows bigint, distinct_src_addrs bigint, distinct_dst_addrs bigint, distinct_dst_ports bigint, "
    "first_seen string, last_seen string, source struct<bucket:string,key:string,path:string>, "
    "mitre_attack array<string>, notified boolean, occurrences bigint, window_flows bigint, "
    "suppressed boolean, suppression_reason string, resources array<struct<interface_id:string,"
    "interface_type:string,description:string,instance_id:string,security_group_ids:array<string>,"
    "vpc_id:string,subnet_id:string,name:string>>",
}

NAMED_QUERIES = {
    "ssh-rdp-activity",
    "top-talkers-by-bytes",
    "https-destinations-by-packets",
    "findings-by-severity-7d",
    "top-rejected-sources",
}


def parse_columns(spec: str) -> list[tuple[str, str]]:
    """'a string, b struct<x:int,y:int>' -> [(a, string), (b, struct<...>)]."""
    columns, depth, current = [], 0, ""
    for ch in spec + ",":
        if ch == "," and depth == 0:
            name, typ = current.strip().split(" ", 1)
            columns.append((name, typ.strip()))
            current = ""
            continue
        depth += {"<": 1, ">": -1}.get(ch, 0)
        current += ch
    return columns


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="module")
def function(template) -> dict:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert list(functions) == ["FlowguardFunction"], functions.keys()
    return functions["FlowguardFunction"]


def function_statements(template: dict, function: dict) -> list[dict]:
    """Every IAM statement granted to the function (its role's policies, or
    SAM inline policies when the function has no explicit Role)."""
    statements = []
    role = function["Properties"].get("Role")
    if role is not None:
        assert role == {"Fn::GetAtt": ["FunctionRole", "Arn"]}, role
        role_props = template["Resources"]["FunctionRole"]["Properties"]
        assert not role_props.get("ManagedPolicyArns"), "managed policies are not reviewed here"
        policies = [p["PolicyDocument"] for p in role_props["Policies"]]
    else:
        policies = [p for p in function["Properties"].get("Policies", []) if isinstance(p, dict)]
    for doc in policies:
        for statement in as_list(doc["Statement"]):
            if "Fn::If" in statement:  # conditional statement: both branches
                branches = statement["Fn::If"][1:]
                statements += [b for b in branches if b != {"Ref": "AWS::NoValue"}]
            else:
                statements.append(statement)
    # Extra policies attached to the role by separate resources count too.
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": "FunctionRole"} in as_list(policy["Properties"].get("Roles")):
            statements += as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    assert statements, "the function has no IAM statements"
    return statements


def is_write_action(action: str) -> bool:
    service, _, name = action.partition(":")
    if service not in ("s3", "sns", "securityhub", "events", "sts"):
        return False
    return not name.startswith(("Get", "List", "Head", "Describe"))


def s3_arn_parts(arn: str) -> tuple[str, str | None]:
    m = re.fullmatch(r"arn:(?:aws|\$\{AWS::Partition\}):s3:::([^/]+)(?:/(.*))?", arn)
    assert m, f"not an S3 ARN: {arn}"
    return m.group(1), m.group(2)


# ---------------------------------------------------------------- IAM


def test_function_has_no_wildcard_actions(template, function):
    for statement in function_statements(template, function):
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"wildcard action {action!r} in {statement.get('Sid')}"
        assert "NotAction" not in statement and "NotResource" not in statement


def test_write_actions_are_scoped_to_the_summary_prefix_and_topic(template, function):
    writes = 0
    for statement in function_statements(template, function):
        actions = as_list(statement["Action"])
        if not any(is_write_action(a) for a in actions):
            continue
        writes += 1
        assert statement["Effect"] == "Allow"
        resources = [r for res in as_list(statement["Resource"]) for r in render(res)]
        assert resources, statement
        for resource in resources:
            assert resource != "*", f"{statement.get('Sid')}: '*' resource for {actions}"
            if any(a.startswith("s3:") for a in actions):
                bucket, key = s3_arn_parts(resource)
                assert key is not None, f"{statement.get('Sid')}: bucket-level write {resource}"
                assert key.startswith("${SummaryPrefix}"), (
                    f"{statement.get('Sid')}: S3 write outside the summary prefix: {resource}"
                )
                assert "*" not in bucket
            if any(a.startswith("sns:") for a in actions):
                assert resource == "${FindingsTopic}", f"sns write to {resource}"
    assert writes >= 2, "expected S3 PutObject and SNS Publish statements"


def test_summary_prefix_can_never_be_bucket_wide(template):
    param = template["Parameters"]["SummaryPrefix"]
    assert param["Default"] == "flowguard/"
    pattern = param["AllowedPattern"]
    for good in ("flowguard/", "flowguard/summaries/", "fg-1/"):
        assert pattern_matches(pattern, good), good
    # Empty would make ${SummaryPrefix}* the whole bucket; AWSLogs/ would make
    # the function trigger on its own output.
    for bad in ("", "/", "*", "flowguard", "AWSLogs/", "AWSLogs/x/"):
        assert not pattern_matches(pattern, bad), bad


def test_summary_write_statement_allows_put_and_marker_reads(template, function):
    statements = function_statements(template, function)
    put = [s for s in statements if "s3:PutObject" in as_list(s["Action"])]
    assert len(put) == 1
    assert "s3:GetObject" in as_list(put[0]["Action"]), "markers are read back"
    assert all(r.endswith("/${SummaryPrefix}*") for res in as_list(put[0]["Resource"]) for r in render(res))


LIST_SIDS = ("ReadThreatLists", "ReadSuppressLists")


def test_flow_logs_are_read_under_awslogs_only(template, function):
    reads = [
        r
        for s in function_statements(template, function)
        if "s3:GetObject" in as_list(s["Action"]) and "s3:PutObject" not in as_list(s["Action"])
        and s.get("Sid") not in LIST_SIDS
        for res in as_list(s["Resource"])
        for r in render(res)
    ]
    assert reads
    for resource in reads:
        bucket, key = s3_arn_parts(resource)
        assert key == "AWSLogs/*", resource
        assert bucket in ("flowguard-flowlogs-${AWS::AccountId}-${AWS::Region}", "${ExistingBucketName}")


def test_sns_publish_only_on_the_findings_topic(template, function):
    publish = [s for s in function_statements(template, function) if "sns:Publish" in as_list(s["Action"])]
    assert len(publish) == 1
    assert as_list(publish[0]["Resource"]) == [{"Ref": "FindingsTopic"}]


# ---------------------------------------------------------------- triggers


def s3_triggers(template: dict) -> list[tuple[str | None, dict]]:
    """(condition, {events, prefix, suffix, function}) for every S3 -> function trigger."""
    found = []
    for name, bucket in resources_of_type(template, "AWS::S3::Bucket").items():
        config = bucket.get("Properties", {}).get("NotificationConfiguration", {})
        for lc in config.get("LambdaConfigurations", []):
            rules = {r["Name"].lower(): r["Value"] for r in lc.get("Filter", {}).get("S3Key", {}).get("Rules", [])}
            found.append((bucket.get("Condition"), {"event": lc["Event"], "function": lc["Function"], **rules}))
    for fname, fn in resources_of_type(template, "AWS::Serverless::Function").items():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "S3":
                p = event["Properties"]
                rules = {r["Name"].lower(): r["Value"] for r in p.get("Filter", {}).get("S3Key", {}).get("Rules", [])}
                bucket = template["Resources"][p["Bucket"]["Ref"]]
                for e in as_list(p["Events"]):
                    found.append((bucket.get("Condition"), {"event": e, "function": {"Fn::GetAtt": [fname, "Arn"]}, **rules}))
    return found


# Flow-log objects as AWS names them: text (.log.gz) and Parquet (.log.parquet).
FLOW_LOG_SUFFIXES = [".log.gz", ".log.parquet"]


def test_new_bucket_trigger_filters_flow_log_objects(template):
    triggers = s3_triggers(template)
    assert len(triggers) == len(FLOW_LOG_SUFFIXES), triggers
    for (condition, trigger), suffix in zip(triggers, FLOW_LOG_SUFFIXES):
        assert condition == "IsNewBucket"
        assert trigger == {
            "event": "s3:ObjectCreated:*",
            "function": {"Fn::GetAtt": ["FlowguardFunction", "Arn"]},
            "prefix": "AWSLogs/",
            "suffix": suffix,
        }
    # S3 refuses two rules of one event whose prefixes and suffixes overlap.
    for a in FLOW_LOG_SUFFIXES:
        for b in FLOW_LOG_SUFFIXES:
            assert a == b or not (a.endswith(b) or b.endswith(a)), (a, b)


def key_filter_semantics(key_patterns: list) -> list[tuple[str, str]]:
    """(prefix, suffix) that each matcher of an EventBridge object-key
    pattern requires (a key matches when one matcher does)."""
    out = []
    for matcher in key_patterns:
        if "wildcard" not in matcher:
            raise AssertionError(f"unsupported key matcher {matcher}")
        head, _, tail = matcher["wildcard"].partition("*")
        assert "*" not in tail, matcher
        out.append((head, tail))
    return out


def test_eventbridge_rule_filters_flow_log_objects(template):
    rules = {k: r for k, r in resources_of_type(template, "AWS::Events::Rule").items()
             if "EventPattern" in r["Properties"]}
    assert len(rules) == 1, rules
    (rule,) = rules.values()
    assert rule["Condition"] == "IsExistingBucket"
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "ExistingBucketName"}]
    assert key_filter_semantics(pattern["detail"]["object"]["key"]) == [
        ("AWSLogs/", suffix) for suffix in FLOW_LOG_SUFFIXES
    ]
    targets = rule["Properties"]["Targets"]
    assert [t["Arn"] for t in targets] == [{"Fn::GetAtt": ["FlowguardFunction", "Arn"]}]


def test_trigger_modes_are_exclusive(template):
    conditions = template["Conditions"]
    assert conditions["IsNewBucket"] == {"Fn::Equals": [{"Ref": "TriggerMode"}, "NewBucket"]}
    assert conditions["IsExistingBucket"] == {"Fn::Equals": [{"Ref": "TriggerMode"}, "ExistingBucket"]}
    assert template["Parameters"]["TriggerMode"]["AllowedValues"] == ["NewBucket", "ExistingBucket"]
    resources = template["Resources"]
    for name, res in resources.items():
        if res["Type"] in ("AWS::S3::Bucket", "AWS::S3::BucketPolicy"):
            assert res.get("Condition") == "IsNewBucket", name
        # The object-created rule (the schedule of held notifications is
        # not a trigger: it exists in both modes).
        schedule = name in ("HeldNotificationsSchedule", "SchedulePermission")
        if res["Type"] == "AWS::Events::Rule" and not schedule:
            assert res.get("Condition") == "IsExistingBucket", name
        if res["Type"] == "AWS::Lambda::Permission" and not schedule:
            expected = {"s3.amazonaws.com": "IsNewBucket", "events.amazonaws.com": "IsExistingBucket"}
            assert res.get("Condition") == expected[res["Properties"]["Principal"]], name
            assert "SourceArn" in res["Properties"], f"{name}: permission without SourceArn"
    # SAM events cannot be conditional, so the function must carry none.
    fn = resources["FlowguardFunction"]["Properties"]
    assert not fn.get("Events"), "SAM function events would exist in both trigger modes"


def test_new_bucket_is_private_encrypted_and_accepts_flow_log_delivery(template):
    bucket = template["Resources"]["FlowLogBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] in ("AES256", "aws:kms")
    statements = template["Resources"]["FlowLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    write = by_sid["AWSLogDeliveryWrite"]
    assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    assert sub_template(write["Resource"]).endswith("/AWSLogs/*")
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert "aws:SourceAccount" in write["Condition"]["StringEquals"]
    acl = by_sid["AWSLogDeliveryAclCheck"]
    assert acl["Action"] == "s3:GetBucketAcl"
    assert acl["Resource"] == {"Fn::GetAtt": ["FlowLogBucket", "Arn"]}


# ---------------------------------------------------------------- function


def test_function_runtime_and_build(function):
    props = function["Properties"]
    assert props["Runtime"] == "provided.al2023"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "bootstrap"
    assert props["CodeUri"] == ".."
    assert (TEMPLATE.parent / props["CodeUri"] / "Cargo.toml").resolve() == (REPO / "Cargo.toml").resolve()
    assert function["Metadata"] == {
        "BuildMethod": "rust-cargolambda",
        "BuildProperties": {"Binary": "flowguard-lambda"},
    }


def test_function_sizing_parameters(template, function):
    params = template["Parameters"]
    props = function["Properties"]
    assert props["MemorySize"] == {"Ref": "MemorySize"} and params["MemorySize"]["Default"] == 512
    assert props["Timeout"] == {"Ref": "Timeout"} and params["Timeout"]["Default"] == 300
    assert params["ReservedConcurrency"]["Default"] == 0
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }


def test_function_logs_json_to_its_own_log_group(template, function):
    props = function["Properties"]
    assert props["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": "FunctionLogGroup"}}
    group = template["Resources"]["FunctionLogGroup"]["Properties"]
    assert render(props["FunctionName"]) == ["${AWS::StackName}"]
    assert render(group["LogGroupName"]) == ["/aws/lambda/${AWS::StackName}"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert template["Parameters"]["LogRetentionInDays"]["Default"] == 30


def test_every_flowguard_variable_is_set(template, function):
    variables = function["Properties"]["Environment"]["Variables"]
    missing = set(ENV_DEFAULTS) - set(variables)
    assert not missing, f"missing environment variables: {sorted(missing)}"
    params = template["Parameters"]
    for name, default in ENV_DEFAULTS.items():
        if default is None:
            continue
        ref = variables[name]["Ref"]
        assert params[ref]["Default"] == default, f"{name}: {ref} defaults to {params[ref]['Default']!r}"
    assert variables["FLOWGUARD_TOPIC_ARN"] == {"Ref": "FindingsTopic"}
    assert variables["FLOWGUARD_SUMMARY_PREFIX"] == {"Ref": "SummaryPrefix"}
    summary_bucket = sorted(render(variables["FLOWGUARD_SUMMARY_BUCKET"]))
    assert summary_bucket == sorted(
        ["${SummaryBucketName}", "flowguard-flowlogs-${AWS::AccountId}-${AWS::Region}", "${ExistingBucketName}"]
    )
    assert params["SummaryBucketName"]["Default"] == ""
    assert params["MinSeverity"]["AllowedValues"] == ["low", "medium", "high"]


def test_failures_go_to_an_encrypted_queue(template, function):
    config = function["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    queue_name = on_failure["Destination"]["Fn::GetAtt"][0]
    queue = template["Resources"][queue_name]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_alarms_publish_to_a_topic_cloudwatch_may_use(template):
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    metrics = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"] for a in alarms.values()}
    assert set(metrics) == {("AWS/Lambda", "Errors"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    topics = set()
    for props in metrics.values():
        assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
        topics |= {a["Ref"] for a in props["AlarmActions"]}
    assert len(topics) == 1
    (topic,) = topics
    allowed = False
    for policy in resources_of_type(template, "AWS::SNS::TopicPolicy").values():
        if {"Ref": topic} not in policy["Properties"]["Topics"]:
            continue
        for s in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                s["Effect"] == "Allow"
                and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
                and "sns:Publish" in as_list(s["Action"])
                and {"Ref": topic} in as_list(s["Resource"])
            ):
                allowed = True
    assert allowed, f"no topic policy lets CloudWatch publish to {topic}"
    # An encrypted topic needs a key CloudWatch may use: not alias/aws/sns.
    key_ref = template["Resources"][topic]["Properties"]["KmsMasterKeyId"]
    key = template["Resources"][key_ref["Ref"]]
    assert key["Type"] == "AWS::KMS::Key"
    principals = [s["Principal"] for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals


def test_topics_are_encrypted(template):
    for name, topic in resources_of_type(template, "AWS::SNS::Topic").items():
        assert topic["Properties"].get("KmsMasterKeyId"), f"{name} is not encrypted"


def test_email_subscription_filters_on_severity(template):
    subscription = template["Resources"]["FindingsEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    props = subscription["Properties"]
    assert props["TopicArn"] == {"Ref": "FindingsTopic"}
    assert props["Protocol"] == "email"
    assert props.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"
    lookup = props["FilterPolicy"]["severity"]["Fn::FindInMap"]
    assert lookup[1] == {"Ref": "EmailMinSeverity"}
    mapping = template["Mappings"][lookup[0]]
    assert {level: mapping[level][lookup[2]] for level in mapping} == {
        "low": ["low", "medium", "high"],
        "medium": ["medium", "high"],
        "high": ["high"],
    }
    assert template["Parameters"]["EmailMinSeverity"]["AllowedValues"] == ["low", "medium", "high"]


# ---------------------------------------------------------------- Athena


def test_glue_tables_match_the_summary_schema(template):
    tables = {t["Properties"]["TableInput"]["Name"]: t for t in resources_of_type(template, "AWS::Glue::Table").values()}
    assert set(tables) == set(GLUE_COLUMNS)
    for name, table in tables.items():
        table_input = table["Properties"]["TableInput"]
        columns = [(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]]
        assert columns == parse_columns(GLUE_COLUMNS[name]), name


def test_glue_tables_use_partition_projection(template):
    for lid, table in resources_of_type(template, "AWS::Glue::Table").items():
        table_input = table["Properties"]["TableInput"]
        name = table_input["Name"]
        assert table["Properties"]["DatabaseName"] == {"Ref": "GlueDatabase"}
        assert table_input["TableType"] == "EXTERNAL_TABLE"
        assert table_input["PartitionKeys"] == [
            {"Name": k, "Type": "string"} for k in ("account", "region", "dt", "hour")
        ], name
        sd = table_input["StorageDescriptor"]
        assert sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
        assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
        p = table_input["Parameters"]
        assert p["projection.enabled"] == "true"
        assert p["projection.account.type"] == "enum"
        assert render(p["projection.account.values"]) == ["${ProjectionAccounts}", "${AWS::AccountId}"]
        assert p["projection.region.type"] == "enum"
        assert render(p["projection.region.values"]) == ["${ProjectionRegions}", "${AWS::Region}"]
        assert p["projection.dt.type"] == "date"
        assert p["projection.dt.format"] == "yyyy-MM-dd"
        assert p["projection.dt.range"] == "2024-01-01,NOW"
        assert p["projection.hour.type"] == "integer"
        assert p["projection.hour.range"] == "0,23"
        assert str(p["projection.hour.digits"]) == "2"
        locations = render(sd["Location"])
        templates = render(p["storage.location.template"])
        assert len(locations) == len(templates) == 3, name  # three ways to name the bucket
        for location, loc_template in zip(locations, templates):
            assert location.startswith("s3://") and location.endswith(f"/${{SummaryPrefix}}{name}/"), location
            assert loc_template == location + "account=${account}/region=${region}/dt=${dt}/hour=${hour}"
        assert {c["Name"] for c in sd["Columns"]}.isdisjoint({"account", "region", "dt", "hour"})


def test_glue_database_name_parameter(template):
    assert template["Parameters"]["GlueDatabaseName"]["Default"] == "flowguard"
    db = template["Resources"]["GlueDatabase"]["Properties"]["DatabaseInput"]
    assert db["Name"] == {"Ref": "GlueDatabaseName"}


def test_named_queries_equal_the_sql_files(template):
    queries = {q["Properties"]["Name"]: q["Properties"] for q in resources_of_type(template, "AWS::Athena::NamedQuery").values()}
    files = {p.stem: p.read_text(encoding="utf-8") for p in QUERIES.glob("*.sql")}
    assert set(queries) == NAMED_QUERIES
    assert set(files) == NAMED_QUERIES
    for name, props in queries.items():
        assert props["Database"] == {"Ref": "GlueDatabase"}
        sql = sub_template(props["QueryString"])
        assert isinstance(props["QueryString"]["Fn::Sub"], str), "no Fn::Sub variable map expected"
        assert "${GlueDatabaseName}." in sql
        substituted = sql.replace("${GlueDatabaseName}", "flowguard")
        assert "${" not in substituted, f"{name}: unexpected substitution in the SQL"
        assert substituted == files[name], f"{name}: infra/queries/{name}.sql differs from the template"


def test_outputs(template):
    outputs = template["Outputs"]
    for name in ("FlowLogBucketName", "FindingsTopicArn", "FunctionName", "GlueDatabaseName", "StateTableName",
                 "DashboardName"):
        assert name in outputs, name
    query_outputs = {o["Value"]["Ref"] for o in outputs.values() if isinstance(o["Value"], dict) and "Ref" in o["Value"]}
    for lid in resources_of_type(template, "AWS::Athena::NamedQuery"):
        assert lid in query_outputs, f"named query {lid} has no output"
    assert outputs["EventBridgeSetup"]["Condition"] == "IsExistingBucket"


# ------------------------------------------------------ correlation state


def test_state_table_has_the_key_schema_and_ttl_of_spec_7(template, function):
    table = template["Resources"]["StateTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["Condition"] == "Correlate"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert sorted((a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]) == [
        ("pk", "S"), ("sk", "S")]
    assert [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]] == [("pk", "HASH"), ("sk", "RANGE")]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    pitr = props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
    assert pitr == {"Fn::If": ["StatePitr", True, False]}
    assert template["Conditions"]["StatePitr"] == {"Fn::Equals": [{"Ref": "StatePointInTimeRecovery"}, "true"]}
    assert template["Parameters"]["StatePointInTimeRecovery"]["Default"] == "false"
    assert template["Conditions"]["Correlate"] == {"Fn::Equals": [{"Ref": "EnableCorrelation"}, "true"]}
    assert template["Parameters"]["EnableCorrelation"]["Default"] == "true"
    env = function["Properties"]["Environment"]["Variables"]
    assert env["FLOWGUARD_STATE_TABLE"] == {"Fn::If": ["Correlate", {"Ref": "StateTable"}, {"Ref": "AWS::NoValue"}]}


def test_state_table_access_is_exactly_the_calls_the_store_makes(template, function):
    statements = [s for s in function_statements(template, function)
                  if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert len(statements) == 1, statements
    (statement,) = statements
    assert statement["Effect"] == "Allow" and "Condition" not in statement
    assert [r for res in as_list(statement["Resource"]) for r in render(res)] == ["${StateTable.Arn}"]
    # The store makes exactly these calls (src/io/dynamodb.rs): no Scan, no
    # table-wide operation.
    source = (REPO / "src" / "io" / "dynamodb.rs").read_text()
    calls = set(re.findall(r"\.(batch_get_item|put_item|get_item|update_item|delete_item|query|scan)\(\)", source))
    assert calls == {"batch_get_item", "put_item", "update_item", "query", "delete_item"}, calls
    camel = {c: "dynamodb:" + "".join(w.capitalize() for w in c.split("_")) for c in calls}
    assert sorted(as_list(statement["Action"])) == sorted(camel.values())


def test_dashboard_shows_what_the_function_does(template, function):
    import json

    dashboards = resources_of_type(template, "AWS::CloudWatch::Dashboard")
    assert list(dashboards) == ["Dashboard"]
    body = sub_template(dashboards["Dashboard"]["Properties"]["DashboardBody"])
    # ${...} are CloudFormation substitutions; the rest must be JSON.
    doc = json.loads(re.sub(r"\$\{[^}]+\}", "X", body))
    metrics = set()
    for widget in doc["widgets"]:
        for m in widget["properties"]["metrics"]:
            names = [x for x in m if isinstance(x, str)]
            metrics.add((names[0], names[1]))
    want = {("flowguard", n) for n in ("Objects", "Records", "MalformedRecords", "FindingsHigh", "FindingsMedium",
                                        "FindingsLow", "Suppressed", "Notifications", "Duration")}
    want |= {("AWS/Lambda", n) for n in ("Errors", "Throttles", "Duration", "Invocations")}
    assert want <= metrics, want - metrics
    # Every flowguard metric on the dashboard is one the function emits.
    emitted = set(re.findall(r'\{"Name": "(\w+)"', (REPO / "src" / "handler" / "outcome.rs").read_text()))
    shown = {n for ns, n in metrics if ns == "flowguard"}
    assert shown <= emitted, shown - emitted
    assert "${FlowguardFunction}" in body


# ------------------------------------------------ threat and suppression lists


def evaluate(node, params: dict, conditions: dict):
    """What CloudFormation makes of `node` with these parameter values and
    condition results (Ref, Fn::If, Fn::Split and Fn::Join, the functions
    the list statements use)."""
    if isinstance(node, (str, int, float, bool)):
        return node
    if isinstance(node, list):
        return [evaluate(n, params, conditions) for n in node]
    (key, value), = node.items()
    if key == "Ref":
        return params[value]
    if key == "Fn::If":
        name, yes, no = value
        return evaluate(yes if conditions[name] else no, params, conditions)
    if key == "Fn::Split":
        sep, text = value
        return evaluate(text, params, conditions).split(sep)
    if key == "Fn::Join":
        sep, parts = value
        assert isinstance(sep, str), "a Join delimiter cannot be a function"
        return sep.join(evaluate(parts, params, conditions))
    raise AssertionError(f"cannot evaluate {node!r}")


def list_statements(template: dict) -> dict:
    """Sid -> (condition, statement) of the list-reading statements."""
    role = template["Resources"]["FunctionRole"]["Properties"]
    found = {}
    for policy in role["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in st and isinstance(st["Fn::If"][1], dict) and st["Fn::If"][1].get("Sid") in LIST_SIDS:
                condition, statement, otherwise = st["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                found[statement["Sid"]] = (condition, statement)
    return found


@pytest.mark.parametrize("sid,param,variable", [
    ("ReadThreatLists", "ThreatListUrls", "FLOWGUARD_THREAT_LISTS"),
    ("ReadSuppressLists", "SuppressListUrls", "FLOWGUARD_SUPPRESS_LISTS"),
])
def test_lists_are_read_with_get_object_on_exactly_the_configured_objects(template, function, sid, param, variable):
    statements = list_statements(template)
    condition, statement = statements[sid]
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": param}, ""]}]}
    assert statement["Effect"] == "Allow" and "Condition" not in statement
    assert as_list(statement["Action"]) == ["s3:GetObject"]
    assert function["Properties"]["Environment"]["Variables"][variable] == {"Ref": param}
    urls = "s3://sec-feeds/flowguard/intel.csv,s3://partner-lists/2025/tor exits.txt"
    for partition, china, gov in (("aws", False, False), ("aws-cn", True, False), ("aws-us-gov", False, True)):
        conditions = {"InChina": china, "InGovCloud": gov}
        resources = evaluate(statement["Resource"], {param: urls}, conditions)
        assert resources == [f"arn:{partition}:s3:::sec-feeds/flowguard/intel.csv",
                             f"arn:{partition}:s3:::partner-lists/2025/tor exits.txt"], partition
        one = evaluate(statement["Resource"], {param: "s3://b1/k.csv"}, conditions)
        assert one == [f"arn:{partition}:s3:::b1/k.csv"]
    assert template["Conditions"]["InChina"] == {"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws-cn"]}
    assert template["Conditions"]["InGovCloud"] == {"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws-us-gov"]}


@pytest.mark.parametrize("param", ["ThreatListUrls", "SuppressListUrls"])
def test_list_parameters_accept_only_s3_object_urls(template, param):
    p = template["Parameters"][param]
    assert p["Default"] == ""
    for good in ("", "s3://sec-feeds/intel.csv", "s3://a.b-c/x/y/z.txt,s3://other-bucket/tor.txt"):
        assert pattern_matches(p["AllowedPattern"], good), good
    # A bucket alone, a prefix, an empty item or another scheme would grant
    # too much or make an invalid ARN.
    for bad in ("s3://sec-feeds", "s3://sec-feeds/", "s3://sec-feeds/lists/", "s3://b/k.csv,",
                ",s3://b/k.csv", "https://b.s3.amazonaws.com/k", "s3://Bad_Bucket/k", "lists/intel.csv",
                "s3://sec-feeds/*", "s3://sec-feeds/a?c"):
        assert not pattern_matches(p["AllowedPattern"], bad), bad


# ---------------------------------------------------------------- cfn-lint


def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    command = [str(cfn_lint)] if cfn_lint.exists() else [sys.executable, "-m", "cfnlint"]
    result = subprocess.run(
        [*command, str(TEMPLATE.relative_to(REPO))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and output == "", f"cfn-lint exit {result.returncode}:\n{output}"


# ---------------------------------------------------------------- delivery (SPEC 10)


def conditional_statement(template: dict, sid: str):
    """(condition, statement) of the role's statement `sid`, which must be
    behind a condition."""
    role = template["Resources"]["FunctionRole"]["Properties"]
    for policy in role["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in st and st["Fn::If"][1].get("Sid") == sid:
                condition, statement, otherwise = st["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                return condition, statement
    raise AssertionError(f"no conditional statement {sid}")


def test_security_hub_import_only_into_the_accounts_default_product(template, function):
    condition, st = conditional_statement(template, "ImportFindings")
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "EnableSecurityHub"}, "true"]}
    assert as_list(st["Action"]) == ["securityhub:BatchImportFindings"]
    assert render(st["Resource"]) == [
        "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"
    ]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["FLOWGUARD_SECURITY_HUB"] == {"Ref": "EnableSecurityHub"}
    assert template["Parameters"]["EnableSecurityHub"]["AllowedValues"] == ["true", "false"]


def test_events_are_put_on_exactly_the_configured_bus(template, function):
    condition, st = conditional_statement(template, "PutFindingEvents")
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "EventBusName"}, ""]}]}
    assert as_list(st["Action"]) == ["events:PutEvents"]
    arn = "arn:aws:events:eu-west-1:123456789012:event-bus/security"
    params = {"EventBusName": arn}
    assert evaluate(st["Resource"], params, {"EventBusIsArn": True}) == arn
    named = st["Resource"]["Fn::If"][2]
    assert render(named) == ["arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"]
    pattern = template["Parameters"]["EventBusName"]["AllowedPattern"]
    for good in ("", "default", "security-findings", arn):
        assert pattern_matches(pattern, good), good
    for bad in ("a bus", "arn:aws:sns:eu-west-1:123456789012:topic", "*"):
        assert not pattern_matches(pattern, bad), bad
    env = function["Properties"]["Environment"]["Variables"]
    assert env["FLOWGUARD_EVENT_BUS"] == {"Ref": "EventBusName"}


def test_enrichment_describes_interfaces_and_assumes_only_the_named_role(template, function):
    condition, st = conditional_statement(template, "DescribeInterfaces")
    assert condition == "EnrichEc2"
    # DescribeNetworkInterfaces has no resource-level permissions: the only
    # "*" resource of the role, for a read.
    assert as_list(st["Action"]) == ["ec2:DescribeNetworkInterfaces"] and st["Resource"] == "*"
    condition, st = conditional_statement(template, "AssumeEnrichRole")
    assert condition == "HasEnrichRole"
    assert as_list(st["Action"]) == ["sts:AssumeRole"]
    role = "arn:aws:iam::{account}:role/flowguard-enrich"
    assert evaluate(st["Resource"], {"EnrichRoleArn": role}, {}) == "arn:aws:iam::*:role/flowguard-enrich"
    pattern = template["Parameters"]["EnrichRoleArn"]["AllowedPattern"]
    for good in ("", role, "arn:aws:iam::210987654321:role/path/enrich"):
        assert pattern_matches(pattern, good), good
    for bad in ("arn:aws:iam::{account}:user/x", "arn:aws:iam::*:role/x", "role/x"):
        assert not pattern_matches(pattern, bad), bad
    env = function["Properties"]["Environment"]["Variables"]
    assert env["FLOWGUARD_ENRICH"] == {"Fn::If": ["EnrichEc2", "ec2", ""]}
    assert env["FLOWGUARD_ENRICH_ROLE"] == {"Fn::If": ["HasEnrichRole", {"Ref": "EnrichRoleArn"}, ""]}
    assert template["Parameters"]["Enrichment"]["AllowedValues"] == ["none", "ec2"]


def test_held_notifications_have_a_five_minute_schedule(template, function):
    rule = template["Resources"]["HeldNotificationsSchedule"]
    assert rule["Type"] == "AWS::Events::Rule" and rule["Condition"] == "Correlate"
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["FlowguardFunction", "Arn"]}
    permission = template["Resources"]["SchedulePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["HeldNotificationsSchedule", "Arn"]}
    budget = template["Parameters"]["MaxMessagesPerMinute"]
    # SNS suspends an email subscription above 10 messages a second.
    assert budget["Default"] == 30 and budget["MaxValue"] <= 600
