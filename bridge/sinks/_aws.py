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
