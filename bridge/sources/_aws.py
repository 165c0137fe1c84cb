"""boto3 clients for the sources: region, endpoint_url, assume_role, retries; errors by code.

Credentials come from the default chain (env, profile, IRSA web identity, instance role) and are
never logged. An assumed role's credentials refresh themselves before they expire.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import botocore.config  # type: ignore[import-untyped, unused-ignore]
import botocore.exceptions  # type: ignore[import-untyped, unused-ignore]
from botocore.credentials import RefreshableCredentials  # type: ignore[import-untyped, unused-ignore]
from botocore.session import get_session  # type: ignore[import-untyped, unused-ignore]

from bridge.errors import ConfigError
from bridge.sources._base import Retry
from bridge.sources._metrics import AWS_ERRORS

# Codes that mean "try again later"; anything else is reported as it is.
RETRYABLE = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "RequestThrottled", "ProvisionedThroughputExceededException", "ServiceUnavailable", "InternalError",
    "InternalFailure", "RequestTimeout", "RequestTimeoutException", "ExpiredToken", "ExpiredTokenException",
    "500", "502", "503", "504",
})


@dataclass(frozen=True)
class AssumeRole:
    role_arn: str
    external_id: str | None = None
    session_name: str = "ctbridge"
    duration_seconds: int = 3600

    def validate(self, path: str) -> None:
        if not self.role_arn.startswith("arn:"):
            raise ConfigError(f"{path}.role_arn: {self.role_arn!r} is not an ARN (arn:aws:iam::ACCOUNT:role/NAME)")


@dataclass(frozen=True)
class AwsAccess:
    """The AWS settings every AWS source has."""

    region: str | None = None
    endpoint_url: str | None = None  # also AWS_ENDPOINT_URL, read by boto3 itself
    assume_role: AssumeRole | None = None
    max_attempts: int = 10  # botocore retries with backoff (throttling, 5xx) before an error


def session(access: AwsAccess) -> Any:
    base = boto3.Session(region_name=access.region)
    if access.assume_role is None:
        return base
    role = access.assume_role
    sts = base.client("sts", endpoint_url=access.endpoint_url, config=_config(access))

    def fetch() -> dict[str, str]:
        kwargs: dict[str, Any] = {"RoleArn": role.role_arn, "RoleSessionName": role.session_name,
                                  "DurationSeconds": role.duration_seconds}
        if role.external_id:
            kwargs["ExternalId"] = role.external_id
        c = sts.assume_role(**kwargs)["Credentials"]
        return {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"], "token": c["SessionToken"],
                "expiry_time": c["Expiration"].isoformat()}

    creds = RefreshableCredentials.create_from_metadata(fetch(), fetch, "assume-role")
    bc = get_session()
    bc._credentials = creds  # botocore's documented way to hand a session refreshable credentials
    if access.region:
        bc.set_config_variable("region", access.region)
    return boto3.Session(botocore_session=bc)


def _config(access: AwsAccess) -> botocore.config.Config:
    return botocore.config.Config(retries={"max_attempts": access.max_attempts, "mode": "adaptive"},
                                  connect_timeout=10, read_timeout=60, max_pool_connections=32)


def client(access: AwsAccess, service: str, sess: Any = None) -> Any:
    return (sess or session(access)).client(service, endpoint_url=access.endpoint_url, config=_config(access))


def error_code(e: BaseException) -> str:
    if isinstance(e, botocore.exceptions.ClientError):
        err = e.response.get("Error", {})
        code = str(err.get("Code") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "unknown")
        return code
    if isinstance(e, botocore.exceptions.NoCredentialsError):
        return "NoCredentials"
    if isinstance(e, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                      botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
        return "ConnectionError"
    return type(e).__name__


def describe(e: BaseException) -> str:
    """One line for logs: the code and AWS's message, never request signatures or credentials."""
    if isinstance(e, botocore.exceptions.ClientError):
        err = e.response.get("Error", {})
        return f"{error_code(e)}: {err.get('Message') or e}"
    return f"{error_code(e)}: {e}"


AWS_EXCEPTIONS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def count(source: str, e: BaseException) -> str:
    code = error_code(e)
    AWS_ERRORS.labels(source=source, code=code).inc()
    return code


def as_retry(source: str, what: str, e: BaseException) -> Retry:
    count(source, e)
    return Retry(f"{what}: {describe(e)}")


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    return float(min(cap, base * (2 ** min(attempt, 10))))


def sleep_backoff(attempt: int, stop_wait: Any = None) -> None:
    delay = backoff(attempt)
    if stop_wait is not None:
        stop_wait(delay)
    else:
        time.sleep(delay)
