"""A realistic benign day of an AWS organization's CloudTrail, and the alert rate of the rules on it.

The day (deterministic for a seed): Identity Center users on the console and the CLI with MFA,
read-only Describe/List/Get traffic, CI deployments through CloudFormation and direct Lambda
updates, Auto Scaling launches, application roles reading secrets, parameters and S3 objects,
AWS service events, harmless AccessDenied and throttling errors, a nightly S3 cleanup job.

The rules use the enrich stage's state (first-seen sets, counters), which a running bridge keeps
across days; so a warm-up day with another seed goes through the enricher first, and only the
second day is replayed through Falco and counted.

    .venv/bin/python bench/benign_day.py --events 100000            # prints the rate, per rule
    .venv/bin/python bench/benign_day.py --events 100000 --cold     # no warm-up day
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bridge.enrich import Enricher
from bridge.model import Record

ACCOUNT = "111122223333"
REGIONS = ["us-east-1"] * 6 + ["us-west-2"] * 3 + ["eu-west-1"] * 2
CONSOLE_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15"
CLI_AGENT = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off"
SDK_AGENT = "Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#6.1.72 lang/python#3.12.2 exec-env/AWS_Lambda_python3.12"


def role_session(role: str, session: str, *, invoked_by: str | None = None, path: str = "") -> dict[str, Any]:
    ident: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"AROA{abs(hash(role)) % 10**12:012d}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": f"AROA{abs(hash(role)) % 10**12:012d}",
                              "arn": f"arn:aws:iam::{ACCOUNT}:role/{path}{role}", "accountId": ACCOUNT, "userName": role},
            "attributes": {"creationDate": "2026-03-03T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


class Org:
    """The people, pipelines, applications and services of one account."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        names = ["ana", "ben", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo", "kofi", "lea",
                 "mia", "noor", "omar", "pia", "quinn", "raj", "sara", "tom", "uma", "vik", "wen", "yuki"]
        sets = ["AWSReservedSSO_ReadOnlyAccess_2b7c91d0e4f5a613", "AWSReservedSSO_PowerUserAccess_8e1f2a3b4c5d6e7f",
                "AWSReservedSSO_AdministratorAccess_4f2a9c1d7e3b5a60"]
        self.people = [(n, sets[0] if i % 3 else sets[1 + (i % 2)]) for i, n in enumerate(names)]
        self.ips = {n: f"192.0.2.{10 + i}" for i, (n, _) in enumerate(self.people)}
        self.apps = [f"{a}-task-role" for a in ("orders", "payments", "search", "catalog", "notify", "reports")] + \
                    [f"{f}-lambda-role" for f in ("thumbnailer", "etl", "webhook", "auth", "billing")]
        self.functions = ["thumbnailer", "etl", "webhook", "auth", "billing", "api-gw-authorizer"]
        self.instances = [f"i-0{rng.randrange(16**15):015x}" for _ in range(12)]

    def person(self) -> tuple[str, dict[str, Any], str]:
        name, pset = self.rng.choice(self.people)
        return name, role_session(pset, f"{name}@example.com", path="aws-reserved/sso.amazonaws.com/"), self.ips[name]


def event(ident: dict[str, Any], src: str, name: str, t: datetime, *, ip: str, agent: str, region: str = "us-east-1",
          req: Any = None, resp: Any = None, error: str | None = None, readonly: bool | None = None,
          etype: str = "AwsApiCall", data: bool = False, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventVersion": "1.09", "userIdentity": ident, "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": f"{src}.amazonaws.com", "eventName": name, "awsRegion": region,
        "sourceIPAddress": ip, "userAgent": agent, "requestParameters": req, "responseElements": resp,
        "requestID": str(uuid.UUID(int=random.getrandbits(128))), "eventID": str(uuid.UUID(int=random.getrandbits(128))),
        "readOnly": readonly if readonly is not None else name.startswith(("Get", "List", "Describe", "Head")),
        "eventType": etype, "managementEvent": not data, "recipientAccountId": ACCOUNT,
        "eventCategory": "Data" if data else "Management",
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = "Rate exceeded" if "Throttl" in error or "Limit" in error else "not authorized"
    if extra:
        rec.update(extra)
    return rec


READS = [("ec2", "DescribeInstances"), ("ec2", "DescribeSecurityGroups"), ("ec2", "DescribeVpcs"), ("s3", "ListBuckets"),
         ("s3", "GetBucketPolicy"), ("iam", "ListRoles"), ("iam", "GetRole"), ("lambda", "ListFunctions20150331"),
         ("cloudwatch", "GetMetricData"), ("logs", "DescribeLogGroups"), ("logs", "FilterLogEvents"),
         ("cloudformation", "DescribeStacks"), ("ecs", "DescribeServices"), ("rds", "DescribeDBInstances"),
         ("sts", "GetCallerIdentity"), ("kms", "ListAliases"), ("secretsmanager", "ListSecrets"),
         ("ssm", "DescribeInstanceInformation"), ("cloudtrail", "LookupEvents"), ("guardduty", "ListFindings")]


def activities(org: Org) -> list[tuple[float, Callable[[datetime], list[dict[str, Any]]]]]:
    rng = org.rng

    def person_read(t: datetime) -> list[dict[str, Any]]:
        _, ident, ip = org.person()
        src, api = rng.choice(READS)
        console = rng.random() < 0.6
        region = rng.choice(REGIONS) if rng.random() < 0.97 else rng.choice(["ap-southeast-2", "sa-east-1"])
        if src in ("iam", "sts", "s3") and api != "GetBucketPolicy":
            region = "us-east-1"
        extra = {"sessionCredentialFromConsole": "true"} if console else None
        err = "AccessDenied" if rng.random() < 0.01 else None
        return [event(ident, src, api, t, ip=ip, agent=CONSOLE_AGENT if console else CLI_AGENT, region=region,
                      req={"maxResults": 50}, error=err, readonly=True, extra=extra)]

    def console_login(t: datetime) -> list[dict[str, Any]]:
        _, ident, ip = org.person()
        out = []
        if rng.random() < 0.05:  # a typo first
            out.append(event({"type": "IAMUser", "accountId": ACCOUNT, "principalId": "AIDAQXEXAMPLEBREAKGL",
                              "arn": f"arn:aws:iam::{ACCOUNT}:user/break-glass", "userName": "break-glass"},
                             "signin", "ConsoleLogin", t, ip=ip, agent=CONSOLE_AGENT, readonly=False,
                             resp={"ConsoleLogin": "Failure"}, extra={"additionalEventData": {"MFAUsed": "Yes"},
                                                                      "errorMessage": "Failed authentication"}))
        out.append(event(ident, "signin", "ConsoleLogin", t + timedelta(seconds=20), ip=ip, agent=CONSOLE_AGENT,
                         readonly=False, resp={"ConsoleLogin": "Success"},
                         extra={"additionalEventData": {"MobileVersion": "No", "MFAUsed": "No"}}))
        return out

    def app_call(t: datetime) -> list[dict[str, Any]]:
        role = rng.choice(org.apps)
        ident = role_session(role, f"{role}-{rng.randrange(40)}")
        ip = f"10.0.{rng.randrange(4)}.{rng.randrange(2, 250)}"
        r = rng.random()
        region = rng.choice(REGIONS)
        if r < 0.35:
            key = f"data/{rng.randrange(10**6)}.json"
            name = rng.choice(["GetObject", "GetObject", "PutObject", "HeadObject"])
            return [event(ident, "s3", name, t, ip=ip, agent=SDK_AGENT, region=region, data=True,
                          req={"bucketName": f"{role.split('-')[0]}-data-{ACCOUNT}", "key": key})]
        if r < 0.45:
            return [event(ident, "secretsmanager", "GetSecretValue", t, ip=ip, agent=SDK_AGENT, region=region,
                          req={"secretId": f"prod/{role.split('-')[0]}/db"})]
        if r < 0.55:
            return [event(ident, "ssm", "GetParameters", t, ip=ip, agent=SDK_AGENT, region=region,
                          req={"names": [f"/{role.split('-')[0]}/config", f"/{role.split('-')[0]}/api-key"], "withDecryption": True})]
        if r < 0.75:
            return [event(ident, "kms", rng.choice(["Decrypt", "GenerateDataKey"]), t, ip=ip, agent=SDK_AGENT, region=region,
                          req={"encryptionContext": {"aws:s3:arn": "arn:aws:s3:::x"}})]
        if r < 0.85:
            return [event(ident, "sqs", "ReceiveMessage", t, ip=ip, agent=SDK_AGENT, region=region,
                          req={"queueUrl": f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/jobs"})]
        err = rng.choice(["ThrottlingException", "ProvisionedThroughputExceededException", "AccessDenied"])
        return [event(ident, "dynamodb", "Query", t, ip=ip, agent=SDK_AGENT, region=region,
                      req={"tableName": "orders"}, error=err if rng.random() < 0.3 else None)]

    def service_event(t: datetime) -> list[dict[str, Any]]:
        svc = rng.choice(["ec2", "lambda", "ecs-tasks", "config", "elasticloadbalancing", "monitoring"])
        ident = {"type": "AWSService", "invokedBy": f"{svc}.amazonaws.com"}
        return [event(ident, "sts", "AssumeRole", t, ip=f"{svc}.amazonaws.com", agent=f"{svc}.amazonaws.com",
                      region=rng.choice(REGIONS), req={"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{rng.choice(org.apps)}",
                                                       "roleSessionName": "svc"})]

    def autoscaling(t: datetime) -> list[dict[str, Any]]:
        ident = role_session("AWSServiceRoleForAutoScaling", "AutoScaling", invoked_by="autoscaling.amazonaws.com",
                             path="aws-service-role/autoscaling.amazonaws.com/")
        name = rng.choice(["RunInstances", "TerminateInstances", "CreateTags"])
        iid = rng.choice(org.instances)
        return [event(ident, "ec2", name, t, ip="autoscaling.amazonaws.com", agent="autoscaling.amazonaws.com",
                      region=rng.choice(REGIONS), readonly=False,
                      req={"instanceType": "c6i.large", "instancesSet": {"items": [{"imageId": "ami-0abc", "minCount": 1, "maxCount": 1}]}},
                      resp={"instancesSet": {"items": [{"instanceId": iid}]}})]

    def deployment(t: datetime) -> list[dict[str, Any]]:
        ci = role_session(rng.choice(["github-actions-deploy", "terraform-apply"]), "GitHubActions")
        cfn = role_session("cfn-exec-role", "AWSCloudFormation", invoked_by="cloudformation.amazonaws.com")
        fn = rng.choice(org.functions)
        ip, cip = "192.0.2.200", "cloudformation.amazonaws.com"
        out = [event(ci, "cloudformation", "UpdateStack", t, ip=ip, agent=CLI_AGENT, readonly=False, req={"stackName": f"{fn}-stack"})]
        for k, (src, api, req) in enumerate([
            ("lambda", "UpdateFunctionCode20150331v2", {"functionName": fn}),
            ("lambda", "UpdateFunctionConfiguration20150331v2", {"functionName": fn, "environment": {}}),
            ("iam", "PutRolePolicy", {"roleName": f"{fn}-lambda-role", "policyName": "inline",
                                      "policyDocument": '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'}),
            ("logs", "CreateLogGroup", {"logGroupName": f"/aws/lambda/{fn}"}),
            ("ec2", "AuthorizeSecurityGroupIngress", {"groupId": "sg-0web", "ipPermissions": {"items": [
                {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
            ("ecs", "UpdateService", {"cluster": "prod", "service": fn}),
        ]):
            out.append(event(cfn, src, api, t + timedelta(seconds=5 + k), ip=cip, agent=cip, readonly=False, req=req))
        out.append(event(ci, "lambda", "UpdateFunctionCode20150331v2", t + timedelta(seconds=30), ip=ip, agent=CLI_AGENT,
                         readonly=False, req={"functionName": fn}))
        return out

    def admin_change(t: datetime) -> list[dict[str, Any]]:
        _, ident, ip = org.person()
        src, api, req = rng.choice([
            ("ec2", "CreateTags", {"resourcesSet": {"items": [{"resourceId": rng.choice(org.instances)}]}}),
            ("ec2", "StartInstances", {"instancesSet": {"items": [{"instanceId": rng.choice(org.instances)}]}}),
            ("ssm", "StartSession", {"target": rng.choice(org.instances)}),
            ("cloudwatch", "PutMetricAlarm", {"alarmName": "cpu-high"}),
            ("s3", "PutBucketTagging", {"bucketName": "reports-data"}),
        ])
        return [event(ident, src, api, t, ip=ip, agent=CONSOLE_AGENT, readonly=False, req=req)]

    return [(0.50, person_read), (0.002, console_login), (0.38, app_call), (0.08, service_event),
            (0.02, autoscaling), (0.0015, deployment), (0.004, admin_change)]


def nightly_cleanup(day: datetime) -> list[dict[str, Any]]:
    ident = role_session("reports-task-role", "cleanup")
    t = day + timedelta(hours=3)
    return [event(ident, "s3", "DeleteObjects", t + timedelta(seconds=i), ip="10.0.2.17", agent=SDK_AGENT, data=True,
                  readonly=False, req={"bucketName": f"reports-data-{ACCOUNT}", "delete": ""}) for i in range(3)]


def generate_day(events: int, seed: int, day: datetime) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    random.seed(seed)
    org = Org(random.Random(7))  # the same people and apps every day
    org.rng = rng
    acts = activities(org)
    weights = [w for w, _ in acts]
    out = nightly_cleanup(day)
    while len(out) < events:
        t = day + timedelta(seconds=rng.uniform(0, 86400))
        _, act = rng.choices(acts, weights)[0]
        out.extend(act(t))
    out.sort(key=lambda r: r["eventTime"])
    return out[:events]


def enrich_all(enricher: Enricher, records: list[dict[str, Any]]) -> list[bytes]:
    out = []
    for rec in records:
        raw = json.dumps(rec, separators=(",", ":")).encode()
        ts = datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        out.append(enricher.process(Record(raw=raw, ts_ns=int(ts.timestamp()) * 10**9, origin="benign")).raw)
    return out


def build(events: int, seed: int, cold: bool, out: Path) -> int:
    day1 = datetime(2026, 3, 3, tzinfo=UTC)
    enricher = Enricher()
    if not cold:
        enrich_all(enricher, generate_day(events, seed + 1000, day1 - timedelta(days=1)))
    lines = enrich_all(enricher, generate_day(events, seed, day1))
    out.write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cold", action="store_true", help="no warm-up day for the enrich stage")
    ap.add_argument("--rules", default=str(REPO / "rules"))
    ap.add_argument("--out", help="also keep the enriched records (JSON lines) here")
    args = ap.parse_args()
    from bridge.commands._shared import default_plugin
    from bridge.rulestool.falcorun import falco_target, falco_version, run_records
    from bridge.rulestool.ruleset import rules_files

    with tempfile.TemporaryDirectory(prefix="benign-") as tmp:
        data = Path(args.out) if args.out else Path(tmp) / "day.jsonl"
        n = build(args.events, args.seed, args.cold, data)
        target = falco_target()
        alerts = run_records(target, default_plugin(), [str(p) for p in rules_files([args.rules])], data, Path(tmp))
    per_rule = Counter(a["rule"] for a in alerts)
    rate = len(alerts) / n * 10000
    print(f"Falco {falco_version(target)}: {n} benign events ({'cold' if args.cold else 'after a warm-up day'}), "
          f"{len(alerts)} alerts = {rate:.2f} per 10,000 events")
    for rule, count in per_rule.most_common():
        print(f"  {count:5d}  {rule}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
