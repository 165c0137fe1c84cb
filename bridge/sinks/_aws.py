"""boto3 for the AWS destinations: one session per destination (region, endpoint_url,
assume-role with refreshing credentials), and botocore errors -> Retryable/Permanent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import botocore.config  # type: ignore[import-untyped, unused-ignore]
import botocore.exceptions  # type: ignore[import-untyped, unused-ignore]
from botocore.credentials import DeferredRefreshableCredentials  # type: ignore[import-untyped, unused-ignore]
from botocore.session import get_session  # type: ignore[import-untyped, unused-ignore]

from bridge.sinks._base import Permanent, Retryable

RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "SlowDown", "ServiceUnavailable", "ServiceUnavailableException", "InternalError",
    "InternalFailure", "InternalServerError", "InternalException", "RequestTimeout",
    "RequestTimeoutException", "LimitExceededException", "KMSThrottlingException",
    "ExpiredToken", "ExpiredTokenException", "ServiceUnavailableError",
})


@dataclass(frozen=True, kw_only=True)
class AwsOptions:
    """Mixed into the config of every AWS destination."""

    region: str | None = field(default=None, metadata={"doc": "AWS region (default: the SDK's, e.g. AWS_REGION)"})
    endpoint_url: str | None = field(default=None, metadata={"doc": "a VPC endpoint, LocalStack or moto"})
    role_arn: str | None = field(default=None, metadata={"doc": "role to assume (refreshed before expiry)"})
    external_id: str | None = field(default=None, metadata={"doc": "ExternalId for role_arn"})
    profile: str | None = field(default=None, metadata={"doc": "shared-config profile"})
    timeout: float = field(default=10.0, metadata={"doc": "seconds to connect and to read"})


def session(opts: AwsOptions, name: str) -> boto3.Session:
    base = boto3.Session(profile_name=opts.profile, region_name=opts.region)
    if not opts.role_arn:
        return base
    sts = base.client("sts", endpoint_url=opts.endpoint_url)
    role_arn = opts.role_arn

    def refresh() -> dict[str, Any]:
        kw: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": f"ctbridge-{name}"[:64]}
        if opts.external_id:
            kw["ExternalId"] = opts.external_id
        c = sts.assume_role(**kw)["Credentials"]
        return {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"], "expiry_time": c["Expiration"].isoformat()}

    # Deferred: the first AssumeRole happens at the first send, so an unreachable STS at start-up
    # is a retryable send failure rather than a crash.
    creds = DeferredRefreshableCredentials(refresh_using=refresh, method="sts-assume-role")
    bc = get_session()
    bc._credentials = creds  # botocore has no public setter for refreshable credentials
    if opts.region:
        bc.set_config_variable("region", opts.region)
    return boto3.Session(botocore_session=bc)


def client(service: str, opts: AwsOptions, name: str) -> Any:
    cfg = botocore.config.Config(connect_timeout=min(opts.timeout, 5.0), read_timeout=opts.timeout,
                                 retries={"max_attempts": 1, "mode": "standard"})  # our queue retries
    return session(opts, name).client(service, endpoint_url=opts.endpoint_url, config=cfg)


def classify(e: Exception, name: str) -> Exception:
    """The Retryable or Permanent for a botocore exception (others are returned unchanged)."""
    if isinstance(e, botocore.exceptions.ClientError):
        err = e.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"{name}: {code or status}: {err.get('Message', '')}"
        if code in RETRYABLE_CODES or status in (408, 429) or status >= 500:
            return Retryable(message)
        return Permanent(message)
    if isinstance(e, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError,
                      botocore.exceptions.NoCredentialsError, botocore.exceptions.CredentialRetrievalError)):
        return Retryable(f"{name}: {type(e).__name__}")
    if isinstance(e, (botocore.exceptions.ParamValidationError,)):
        return Permanent(f"{name}: {e}")
    return e


def call(name: str, fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except botocore.exceptions.BotoCoreError as e:
        raise classify(e, name) from None
    except botocore.exceptions.ClientError as e:
        raise classify(e, name) from None


def batch_outcome(failed: list[tuple[int, str, bool]]) -> None:
    """Raise PartialFailure for (index, reason, retryable) triples from a batch API's answer."""
    from bridge.sinks._base import PartialFailure

    if failed:
        raise PartialFailure({i: r for i, r, ok in failed if ok}, {i: r for i, r, ok in failed if not ok})


Failed = list[tuple[int, str, bool]]  # (index, reason, retryable)


def message_fields(alert_priority: str, rule: str, aid: str, fifo: bool, *extra: tuple[str, str]) -> dict[str, Any]:
    """SNS/SQS batch entry fields every alert carries: string attributes to filter subscriptions
    on, and for FIFO topics and queues the group (per rule) and the dedup id (the alert id)."""
    pairs = (("priority", alert_priority), ("rule", rule[:256]), *extra, ("id", aid))
    fields: dict[str, Any] = {"MessageAttributes": {k: {"DataType": "String", "StringValue": v or "-"}
                                                    for k, v in pairs}}
    if fifo:
        fields["MessageGroupId"] = rule[:128] or "falco"
        fields["MessageDeduplicationId"] = aid
    return fields


def batch_failures(resp: dict[str, Any], start: int) -> Failed:
    """The `Failed` list of SNS PublishBatch / SQS SendMessageBatch, as chunk-relative Failed."""
    return [(int(f["Id"]) - start, f"{f.get('Code')}: {f.get('Message', '')}", not f.get("SenderFault"))
            for f in resp.get("Failed", [])]


def chunks(sizes: list[int], limit: int, max_count: int) -> list[tuple[int, int]]:
    """[start, end) ranges of consecutive entries whose sizes add up to at most `limit` bytes and
    `max_count` entries; an entry over the limit alone gets a range of its own (the API refuses it,
    and only it is dead-lettered)."""
    out: list[tuple[int, int]] = []
    start, total = 0, 0
    for i, n in enumerate(sizes):
        if i > start and (total + n > limit or i - start >= max_count):
            out.append((start, i))
            start, total = i, 0
        total += n
    if start < len(sizes):
        out.append((start, len(sizes)))
    return out


def send_chunked(sizes: list[int], limit: int, max_count: int, send: Any) -> None:
    """Call send(start, end) -> Failed (indexes relative to start) per chunk of a batch; raise
    PartialFailure for what failed, including every chunk from the first that failed as a whole."""
    failed: Failed = []
    for start, end in chunks(sizes, limit, max_count):
        try:
            failed += [(start + i, r, ok) for i, r, ok in send(start, end)]
        except (Retryable, Permanent) as e:
            if start == 0 and end == len(sizes):
                raise
            failed += [(i, str(e), isinstance(e, Retryable)) for i in range(start, len(sizes))]
            break
    batch_outcome(failed)
