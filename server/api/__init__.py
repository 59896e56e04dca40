"""The REST API under /api/v1 (docs/api.md): resources, API clients and their tokens, the one
bearer-token reading for every HTTP route, problem details and the OpenAPI document."""
from .bearer import Principals, bearer_token
from .clients import ApiClients, default_path
from .rest import RestApi

__all__ = ["ApiClients", "Principals", "RestApi", "bearer_token", "default_path"]
