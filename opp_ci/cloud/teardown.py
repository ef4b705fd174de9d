"""Deleting a campaign's resources (`down`), expired ones (`janitor`), and listing live ones (`status`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from opp_ci.cloud.aws import NOT_FOUND, Clients, Log, aws_errors, error_code, quiet, user_error
from opp_ci.cloud.resources import Resource, campaign_resources, opp_ci_resources
from opp_ci.cloud.tags import TAG_EXPIRES
from opp_ci.cloud.waiting import wait_tasks
from opp_ci.errors import UserError
from opp_ci.options import default

DELETE_ORDER = [
    "ecs:task",
    "ecs:cluster",
    "ecs:task-definition",
    "ec2:security-group",
    "logs:log-group",
    "ssm:parameter",
    "secretsmanager:secret",
    "s3:bucket",
]


@dataclass
class Teardown:
    """Deletes resources in dependency order; each step is idempotent (gone already is fine)."""

    clients: Clients
    timeout: float = default("ecs.timeout")
    poll: float = 5.0
    log: Log = quiet
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def run(self, resources: list[Resource]) -> list[str]:
        ordered = sorted(resources, key=lambda r: kind_rank(r.kind))
        for resource in ordered:
            self.delete(resource)
        if self.failed:
            raise UserError(
                f"could not delete {len(self.failed)} resource(s): {'; '.join(self.failed)} "
                "— run `opp-ci cluster down` again or `opp-ci janitor` later"
            )
        return self.deleted

    def delete(self, resource: Resource) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if resource.kind not in DELETE_ORDER:
            self.log(f"skipping {resource.arn}: opp-ci does not create this kind of resource")
            return
        deleter = getattr(self, "_delete_" + resource.kind.split(":")[1].replace("-", "_"))
        try:
            if deleter(resource) is not False:
                self.deleted.append(f"{resource.kind} {resource.name}")
                self.log(f"deleted {resource.kind} {resource.name}")
        except ClientError as error:
            if error_code(error) in NOT_FOUND:
                return
            self.failed.append(f"{resource.kind} {resource.name}: {user_error(error).message}")
        except (BotoCoreError, UserError) as error:
            self.failed.append(f"{resource.kind} {resource.name}: {error}")

    def _delete_task(self, resource: Resource) -> bool:
        """Stops a task (the tagging API still lists stopped ones for a while: those are skipped)."""
        ecs, cluster = self.clients("ecs"), resource.name.split("/")[0]
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[resource.arn])["tasks"]
        if not tasks or tasks[0]["lastStatus"] == "STOPPED" or tasks[0].get("desiredStatus") == "STOPPED":
            return False
        ecs.stop_task(cluster=cluster, task=resource.arn, reason="opp-ci teardown")
        return True

    def _delete_cluster(self, resource: Resource) -> bool:
        ecs = self.clients("ecs")
        found = ecs.describe_clusters(clusters=[resource.arn])["clusters"]
        if not found or found[0]["status"] == "INACTIVE":
            return False
        self.stop_tasks(resource.arn)
        ecs.delete_cluster(cluster=resource.arn)
        return True

    def stop_tasks(self, cluster: str) -> None:
        ecs = self.clients("ecs")
        arns = [
            a for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster) for a in page["taskArns"]
        ]
        for arn in arns:
            ecs.stop_task(cluster=cluster, task=arn, reason="opp-ci teardown")
        for start in range(0, len(arns), 100):
            wait_tasks(ecs, "tasks_stopped", cluster, arns[start : start + 100], self.timeout, self.poll)

    def _delete_task_definition(self, resource: Resource) -> bool:
        ecs = self.clients("ecs")
        try:
            status = ecs.describe_task_definition(taskDefinition=resource.arn)["taskDefinition"]["status"]
        except Exception as error:  # ClientException: no such task definition
            if error_code(error) in ("ClientException", *NOT_FOUND):
                return False
            raise
        if status == "ACTIVE":
            ecs.deregister_task_definition(taskDefinition=resource.arn)
        if status in ("ACTIVE", "INACTIVE"):
            ecs.delete_task_definitions(taskDefinitions=[resource.arn])
            return True
        return False

    def _delete_security_group(self, resource: Resource) -> bool:
        from botocore.exceptions import ClientError

        ec2 = self.clients("ec2")
        group = ec2.describe_security_groups(GroupIds=[resource.name])["SecurityGroups"][0]
        if group["IpPermissions"]:
            ec2.revoke_security_group_ingress(GroupId=resource.name, IpPermissions=group["IpPermissions"])
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                ec2.delete_security_group(GroupId=resource.name)
                return True
            except ClientError as error:  # the network interfaces of stopped tasks linger a while
                if error_code(error) != "DependencyViolation" or time.monotonic() > deadline:
                    raise
                time.sleep(self.poll)

    def _delete_log_group(self, resource: Resource) -> bool:
        self.clients("logs").delete_log_group(logGroupName=resource.name)
        return True

    def _delete_parameter(self, resource: Resource) -> bool:
        self.clients("ssm").delete_parameter(Name=resource.name)
        return True

    def _delete_secret(self, resource: Resource) -> bool:
        self.clients("secretsmanager").delete_secret(SecretId=resource.arn, ForceDeleteWithoutRecovery=True)
        return True

    def _delete_bucket(self, resource: Resource) -> bool:
        s3 = self.clients("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=resource.name):
            objects = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objects:
                s3.delete_objects(Bucket=resource.name, Delete={"Objects": objects, "Quiet": True})
        s3.delete_bucket(Bucket=resource.name)
        return True


def down(
    clients: Clients, campaign: str, *, timeout: float = default("ecs.timeout"), poll: float = 5.0, log: Log = quiet
) -> list[str]:
    """Deletes every resource tagged with this campaign. Idempotent."""
    with aws_errors():
        return Teardown(clients, timeout, poll, log).run(campaign_resources(clients, campaign))


def janitor(
    clients: Clients,
    now: datetime,
    *,
    dry_run: bool = False,
    timeout: float = default("ecs.timeout"),
    poll: float = 5.0,
    log: Log = quiet,
) -> list[str]:
    """Deletes every opp-ci resource whose expires-at tag has passed, and nothing else."""
    with aws_errors():
        expired = [r for r in opp_ci_resources(clients) if r.expired(now)]
        if dry_run:
            return [f"{r.kind} {r.name}" for r in expired]
        return Teardown(clients, timeout, poll, log).run(expired)


def status(clients: Clients, campaign: str | None = None) -> list[dict[str, str]]:
    """One row per live opp-ci resource (of one campaign, or all): campaign, kind, name, expires-at, state.

    The tagging API still lists stopped tasks and deleted clusters for a while; those are left out.
    """
    with aws_errors():
        found = campaign_resources(clients, campaign) if campaign else opp_ci_resources(clients)
        rows = [
            {
                "campaign": r.campaign,
                "kind": r.kind,
                "name": r.name,
                "expires-at": r.tags.get(TAG_EXPIRES, ""),
                "state": state_or_gone(clients, r),
            }
            for r in found
        ]
    rows = [row for row in rows if row["state"] != "gone"]
    return sorted(rows, key=lambda row: (row["campaign"], kind_rank(row["kind"]), row["name"]))


def kind_rank(kind: str) -> int:
    return DELETE_ORDER.index(kind) if kind in DELETE_ORDER else len(DELETE_ORDER)


def state_or_gone(clients: Clients, resource: Resource) -> str:
    try:
        return resource_state(clients, resource)
    except Exception as error:  # a task of a deleted cluster, say
        if error_code(error) in NOT_FOUND:
            return "gone"
        raise


def resource_state(clients: Clients, resource: Resource) -> str:
    """A task's status; for a cluster how many tasks run in it; "gone" for what is deleted already."""
    ecs = clients("ecs")
    if resource.kind == "ecs:task":
        cluster = resource.name.split("/")[0]
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[resource.arn])["tasks"]
        state = tasks[0]["lastStatus"] if tasks else "STOPPED"
        return "gone" if state in ("STOPPED", "DELETED") else state.lower()
    if resource.kind != "ecs:cluster":
        return ""
    found = ecs.describe_clusters(clusters=[resource.arn])["clusters"]
    if not found or found[0]["status"] != "ACTIVE":
        return "gone"
    pages = ecs.get_paginator("list_tasks").paginate(cluster=resource.arn, desiredStatus="RUNNING")
    return f"{sum(len(page['taskArns']) for page in pages)} task(s) running"
