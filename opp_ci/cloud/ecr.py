"""ECR: the image a cluster runs must exist; `opp-ci ecr ensure` creates the repository."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from opp_ci.cloud.aws import aws_errors, error_code
from opp_ci.cloud.tags import ec2_tags
from opp_ci.errors import UserError

ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<repo>[^:@]+)(:(?P<tag>[^@]+))?(@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def check_image(ecr: Any, image: str) -> None:
    """An ECR image must exist before anything is created; other registries are checked by ECS."""
    match = ECR_IMAGE.match(image)
    if not match:
        return
    image_id = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"] or "latest"}
    try:
        ecr.describe_images(registryId=match["account"], repositoryName=match["repo"], imageIds=[image_id])
    except Exception as error:
        if error_code(error) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise UserError(
                f"the image {image} does not exist ({error_code(error)}); build and push it first, "
                "e.g. with `opp-ci ecr ensure` and the build-image action"
            ) from error
        raise


def ensure_repository(
    ecr: Any,
    name: str,
    *,
    tag: str | None = None,
    digest: str | None = None,
    keep: int = 20,
    tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Creates the repository when missing; says whether the image (tag or digest) is there."""
    with aws_errors():
        try:
            repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
            created = False
        except Exception as error:
            if error_code(error) != "RepositoryNotFoundException":
                raise
            repository = create_repository(ecr, name, keep, tags or {})
            created = True
        exists = image_exists(ecr, name, tag, digest) if (tag or digest) else False
    return {
        "repository-uri": repository["repositoryUri"],
        "exists": str(exists).lower(),
        "created": str(created).lower(),
    }


def create_repository(ecr: Any, name: str, keep: int, tags: Mapping[str, str]) -> dict[str, Any]:
    repository = ecr.create_repository(
        repositoryName=name,
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="MUTABLE",
        tags=ec2_tags(tags),
    )["repository"]
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=lifecycle_policy(keep))
    return repository


def lifecycle_policy(keep: int) -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the last {keep} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                    "action": {"type": "expire"},
                }
            ]
        }
    )


def image_exists(ecr: Any, name: str, tag: str | None, digest: str | None) -> bool:
    image_id = {"imageDigest": digest} if digest else {"imageTag": tag}
    try:
        return bool(ecr.describe_images(repositoryName=name, imageIds=[image_id])["imageDetails"])
    except Exception as error:
        if error_code(error) == "ImageNotFoundException":
            return False
        raise
