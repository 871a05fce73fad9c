"""Secrets are never written in a spec: a spec names the environment variable that holds one."""

from __future__ import annotations

import re

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_var_name(value: str | None, secret: str = "the secret", example: str = "RETRAIN_SLACK_WEBHOOK") -> str | None:
    """``value`` if it is an environment variable's name, else a ``ValueError`` saying where the secret goes."""
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError(
            f"{value!r} is not an environment variable name; put {secret} in a variable (e.g. {example}) and "
            "name the variable here, never the secret itself"
        )
    return value
