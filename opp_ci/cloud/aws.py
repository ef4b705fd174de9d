"""boto3 clients for one region, the region itself, and AWS errors as one-line UserErrors."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from opp_ci.errors import UserError

ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "NotAuthorized",
}
NOT_FOUND = {
    "ResourceNotFoundException",
    "ParameterNotFound",
    "NoSuchBucket",
    "InvalidGroup.NotFound",
    "ClusterNotFoundException",
    "NotFoundException",
    "InvalidGroupId.Malformed",
}

Log = Callable[[str], None]


def quiet(message: str) -> None:
    """The default `Log`: says nothing."""
    del message


class Clients:
    """boto3 clients for one region, created on first use. Tests pass a session or fake clients."""

    def __init__(self, region: str, session: Any | None = None, **overrides: Any) -> None:
        self.region = region
        self._session = session
        self._clients: dict[str, Any] = dict(overrides)

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            if self._session is None:
                import boto3

                self._session = boto3.Session()
            self._clients[service] = self._session.client(service, region_name=self.region)
        return self._clients[service]


def resolve_region(region: str | None, env: Mapping[str, str]) -> str:
    """--region, else AWS_REGION / AWS_DEFAULT_REGION; an unknown name is a UserError."""
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise UserError("no AWS region: pass --region or set AWS_REGION")
    if region not in known_regions():
        raise UserError(
            f"unknown AWS region {region!r} (ECS is not offered there); check --region / AWS_REGION"
        )
    return region


def known_regions() -> set[str]:
    import boto3

    session = boto3.Session()
    return {r for p in ("aws", "aws-cn", "aws-us-gov") for r in session.get_available_regions("ecs", p)}


def user_error(error: Exception) -> UserError:
    """One line naming what is missing, for an AWS error the user has to fix."""
    response = getattr(error, "response", {}) or {}
    code = response.get("Error", {}).get("Code", "")
    message = response.get("Error", {}).get("Message", str(error))
    operation = getattr(error, "operation_name", "?")
    if code in ACCESS_DENIED or "not authorized" in message.lower():
        action = re.search(r"perform: ([\w-]+:[\w*]+)", message)
        what = action.group(1) if action else operation
        return UserError(
            f"missing AWS permission {what} (in {operation}): {message} "
            "— grant it to the role, see docs/iam-policy.json"
        )
    return UserError(f"AWS {operation} failed: {code}: {message}")


@contextlib.contextmanager
def aws_errors() -> Iterator[None]:
    """Turns botocore's errors into UserErrors (exit 2, one line)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        yield
    except ClientError as error:
        raise user_error(error) from error
    except NoCredentialsError as error:
        raise UserError(
            "no AWS credentials: configure a role (aws-actions/configure-aws-credentials) "
            "or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        ) from error
    except NoRegionError as error:
        raise UserError("no AWS region: pass --region or set AWS_REGION") from error
    except BotoCoreError as error:
        raise UserError(f"AWS call failed: {error}") from error


def error_code(error: Exception) -> str:
    return (getattr(error, "response", {}) or {}).get("Error", {}).get("Code", "")
