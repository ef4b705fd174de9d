"""Tags, resource names and times of one campaign: what `up` writes and `down` / `janitor` read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from opp_ci.errors import UserError

TAG_CAMPAIGN = "opp-ci:campaign"
TAG_REPOSITORY = "opp-ci:repository"
TAG_EXPIRES = "opp-ci:expires-at"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_campaign_id(campaign: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", campaign):
        raise UserError(f"bad campaign id {campaign!r}: use 1-31 lowercase letters, digits and '-'")
    return campaign


def campaign_tags(campaign: str, repository: str, expires_at: str) -> dict[str, str]:
    return {TAG_CAMPAIGN: campaign, TAG_REPOSITORY: repository or "unknown", TAG_EXPIRES: expires_at}


def ecs_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def ec2_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def ca_parameter_beside(password_parameter: str) -> str:
    """The CA certificate's parameter, beside the password's (how `run --redis-password-parameter` finds it)."""
    return password_parameter.rsplit("/", 1)[0] + "/redis-ca"


def campaign_of_parameter(password_parameter: str) -> str:
    """The campaign whose Redis password parameter this is (`Names.password_parameter`); a parameter `cluster up`
    did not make has none, and its cluster's store must be named."""
    match = re.fullmatch(r"/opp-ci/([a-z0-9][a-z0-9-]{0,30})/redis-password", password_parameter)
    if match is None:
        raise UserError(f"--redis-password-parameter {password_parameter} is not one `opp-ci cluster up` made "
                        f"(/opp-ci/CAMPAIGN/redis-password): name the workers' store with --store s3://BUCKET/PREFIX")
    return match[1]


@dataclass(frozen=True)
class Names:
    """Every resource name of one campaign, in one place."""

    campaign: str
    account: str

    @property
    def cluster(self) -> str:
        return f"opp-ci-{self.campaign}"

    @property
    def security_group(self) -> str:
        return f"opp-ci-{self.campaign}"

    @property
    def log_group(self) -> str:
        return f"/opp-ci/{self.campaign}"

    @property
    def password_parameter(self) -> str:
        return f"/opp-ci/{self.campaign}/redis-password"

    @property
    def tls_key_parameter(self) -> str:
        return f"/opp-ci/{self.campaign}/redis-tls-key"

    @property
    def ca_parameter(self) -> str:
        return ca_parameter_beside(self.password_parameter)

    @property
    def bucket(self) -> str:
        return f"opp-ci-{self.campaign}-{self.account}"

    @property
    def store_url(self) -> str:
        """Where the campaign's worker tasks put the runs' files (the bucket lives as long as the cluster)."""
        return f"s3://{self.bucket}/{self.campaign}"

    def family(self, role: str) -> str:
        return f"opp-ci-{role}-{self.campaign}"
