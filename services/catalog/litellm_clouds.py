"""What the LiteLLM import needs to know of the cloud providers: which litellm_params become a
provider's options, what LiteLLM reads when they are left out, and how a key is made from each cloud's
credential params (Bedrock's AWS keys, Vertex's service account).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

ENV_PREFIX = "os.environ/"
CLOUD_PROVIDERS = {"azure_ai": "Azure AI", "sagemaker": "AWS SageMaker"}
"""Cloud prefixes no adapter serves yet."""
CLOUD_OPTIONS = {"azure": {"api_version": "api_version"}, "bedrock": {"aws_region_name": "region"},
                 "vertex": {"vertex_project": "project", "vertex_location": "location"}}
"""litellm_params that become a cloud provider's options (``cloud_options``), by kind."""
OPTION_VARIABLES = {"aws_region_name": ("AWS_REGION_NAME", ""), "vertex_project": ("VERTEXAI_PROJECT", ""),
                    "vertex_location": ("VERTEXAI_LOCATION", "us-central1")}
"""What LiteLLM reads when such a param is left out: an environment variable, then a default."""
AWS_KEY_PARAMS = (("aws_access_key_id", "AWS_ACCESS_KEY_ID"), ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"), ("aws_session_token", ""))
"""A Bedrock key's parts with the variable LiteLLM reads when one is left out (none for the optional token)."""
KEY_PARTS = "\n"  # joins the references of a key made of several (Bedrock's); its secret joins their values with ':'


def cloud_key_reference(kind: str, params: Mapping[str, Any]) -> str:
    """A Bedrock entry's AWS credentials' references joined by ``KEY_PARTS``; a Vertex entry's
    ``vertex_credentials`` (a mapping in the YAML is the service account itself, as JSON text)."""
    if kind == "vertex":
        credentials = params.get("vertex_credentials")
        return orjson.dumps(credentials).decode() if isinstance(credentials, dict) else str(credentials or "").strip()
    parts = [str(params.get(name) or (ENV_PREFIX + variable if variable else "")).strip() for name, variable in AWS_KEY_PARAMS]
    return KEY_PARTS.join(part for part in parts if part)


def vertex_problem(params: Mapping[str, Any], options: Mapping[str, str]) -> str | None:
    """Why a vertex_ai/ entry cannot be imported: no project, or credentials the hub cannot keep as a key's
    secret (none: LiteLLM would use the machine's default credentials; a file path: never read from here)."""
    if "project" not in options:
        return "a vertex_ai/ entry needs vertex_project (or VERTEXAI_PROJECT in the environment)"
    credentials = params.get("vertex_credentials")
    if not credentials:
        return "a vertex_ai/ entry needs vertex_credentials: the service account's JSON (or os.environ/ naming a variable that holds it)"
    if isinstance(credentials, str) and not credentials.strip().startswith(("{", ENV_PREFIX)):
        return "vertex_credentials is a file path: paste the service account's JSON, or name a variable that holds it (os.environ/…)"
    return None
