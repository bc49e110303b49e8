"""Bearer-token auth for the /v1 routes: where the token comes from, and the check."""

from __future__ import annotations

import hmac
import os

from rayapp.config import ServeConfig
from rayapp.errors import ConfigError
from serve.errors import ApiError

__all__ = ["check_bearer", "configured_token"]


def configured_token(config: ServeConfig) -> str | None:
    """The token from the config or the environment variable it names; None: no auth."""
    if config.auth_token is not None:
        return config.auth_token.get_secret_value()
    if config.auth_token_env:
        token = os.environ.get(config.auth_token_env)
        if not token:
            raise ConfigError(f"auth_token_env names {config.auth_token_env}, which is unset")
        return token
    return None


def check_bearer(authorization: str, want: str | None) -> None:
    """``authorization`` (the header) must be ``Bearer <want>``; compared in constant time."""
    if want is None:
        return
    scheme, _, got = authorization.partition(" ")
    if scheme.lower() != "bearer" or not got:
        raise ApiError(401, "Missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(got.strip().encode(), want.encode()):
        raise ApiError(401, "Invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
