"""Broker settings: config/defaults.yaml, then a settings file, then BROKER_* environment variables.

The settings file comes from `--settings PATH` or BROKER_SETTINGS. Nested values use `__` in
environment variables (BROKER_TICKS__COLLECT_SECONDS=10). Unknown keys are errors that name the
file and line, so a misspelt setting never silently falls back to its default.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from broker.spec import Issue, SpecError, YamlDocument, field_name

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "config" / "defaults.yaml"
SETTINGS_FILE_ENV = "BROKER_SETTINGS"
ENV_PREFIX = "BROKER_"

PRODUCTION_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
LOCAL_ENDPOINT = "http://127.0.0.1:8765"

_settings_file: ContextVar[str | None] = ContextVar("broker_settings_file", default=None)


class SettingsError(SpecError):
    """Invalid settings; `issues` name the file (or environment variable), line and key."""


class TickIntervals(BaseModel):
    """How often the daemon runs each tick, in seconds."""

    model_config = ConfigDict(extra="forbid")
    intake_seconds: float = Field(default=10, gt=0)
    publish_seconds: float = Field(default=10, gt=0)
    collect_seconds: float = Field(default=30, gt=0)
    review_seconds: float = Field(default=60, gt=0)
    consolidate_seconds: float = Field(default=60, gt=0)
    quality_seconds: float = Field(default=10, gt=0)
    autolabel_seconds: float = Field(default=10, gt=0)
    output_seconds: float = Field(default=10, gt=0)
    finalize_seconds: float = Field(default=60, gt=0)


class Settings(BaseSettings):
    """Where the broker keeps state and which endpoints and credentials it uses."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    db_url: str = "sqlite:///broker.db"
    production_endpoint_url: str = PRODUCTION_ENDPOINT
    sandbox_endpoint_url: str = SANDBOX_ENDPOINT
    local_endpoint_url: str = LOCAL_ENDPOINT
    local_worker_site_url: str | None = None
    local_access_key_id: str = "AKIALOCALMARKETPLACE"
    local_secret_access_key: SecretStr = SecretStr("local-marketplace-secret")
    aws_profile: str | None = None
    aws_region: str = "us-east-1"
    s3_endpoint_url: str | None = None
    sqs_endpoint_url: str | None = None
    presign_expiry_seconds: int = Field(default=86_400, ge=60, le=7 * 86_400)
    # requester API calls a second per account, shared by every daemon on the DB (None: no limit)
    mturk_calls_per_second: float | None = Field(default=10, gt=0)
    local_calls_per_second: float | None = Field(default=None, gt=0)
    ticks: TickIntervals = Field(default_factory=TickIntervals)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files: list[Path] = [DEFAULTS_FILE]
        chosen = _settings_file.get()
        if chosen:
            files.append(Path(chosen))
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=files, deep_merge=True)
        return (init_settings, env_settings, yaml_source)

    def endpoint_for(self, marketplace: str) -> str:
        """The requester API URL of a spec's `marketplace` ("local", "sandbox", "production" or a URL)."""
        named = {
            "production": self.production_endpoint_url,
            "sandbox": self.sandbox_endpoint_url,
            "local": self.local_endpoint_url,
        }
        return named.get(marketplace, marketplace).rstrip("/")

    def digest(self) -> str:
        """A digest of every setting (the secret key's too, never shown): daemons sharing a DB compare it."""
        values = self.model_dump(mode="json")
        values["local_secret_access_key"] = self.local_secret_access_key.get_secret_value()
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def worker_site_url(self) -> str:
        """The local marketplace's worker site (the same server as its API unless configured)."""
        return (self.local_worker_site_url or self.local_endpoint_url).rstrip("/")


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, the settings file (`path` or $BROKER_SETTINGS), env and `overrides`."""
    chosen = str(path) if path else os.environ.get(SETTINGS_FILE_ENV) or None
    documents: list[YamlDocument] = []
    for candidate in [str(DEFAULTS_FILE)] + ([chosen] if chosen else []):
        documents.append(_read_settings_file(candidate, required=candidate == chosen))
    token = _settings_file.set(chosen)
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_locate(error, [doc for doc in documents if doc.root is not None])) from error
    finally:
        _settings_file.reset(token)


def _read_settings_file(path: str, *, required: bool) -> YamlDocument:
    file = Path(path)
    if not file.is_file():
        if required:
            raise SettingsError([Issue(path, None, "", "settings file not found")])
        return YamlDocument(path, "")
    document = YamlDocument.load(path, file.read_text(encoding="utf-8"))
    if document.data is not None and not isinstance(document.data, dict):
        raise SettingsError([Issue(path, document.line_of(()), "", "a settings file is a YAML mapping")])
    issues = document.duplicate_keys()
    if issues:
        raise SettingsError(issues)
    return document


def _locate(error: ValidationError, documents: list[YamlDocument]) -> list[Issue]:
    """Name where each bad value came from: an environment variable, else the last file that sets it."""
    issues: list[Issue] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        field = ".".join(str(part) for part in loc)
        env_name = ENV_PREFIX + "__".join(str(part) for part in loc).upper()
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        if env_name in os.environ:
            issues.append(Issue(f"environment {env_name}", None, field, message))
            continue
        for document in reversed(documents):
            if _has_path(document.data, loc):
                issues.append(Issue(document.path, document.line_of(loc), field_name(loc, document), message))
                break
        else:
            issues.append(Issue("settings", None, field, message))
    return issues


def _has_path(data: Any, loc: tuple[Any, ...]) -> bool:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return False
    return True
