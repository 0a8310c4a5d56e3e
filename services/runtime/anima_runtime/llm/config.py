"""Which language model the runtime talks to (part of the runtime's configuration).

The default is the offline model, which needs no endpoint and no weights. "openai" names an
OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, OpenRouter, ...). Embeddings are not
configured here: they stay with the memory service.

A character's own choice of model and endpoint is honoured only when the operator opts in
(`honour_character`): characters arrive over the API, and an endpoint a character names is
a URL an API caller chose for the runtime to call. In production that needs an allow-list
of hosts (`character_endpoint_hosts`).
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from anima_core.config import ConfigError, FrozenConfig


class ModelConfig(FrozenConfig):
    provider: Literal["offline", "openai"] = "offline"
    # The OpenAI-compatible API root, e.g. https://api.openai.com/v1 or
    # http://127.0.0.1:11434/v1 (Ollama). Needed by provider "openai"; with the
    # offline provider it still serves characters that name an OpenAI-compatible
    # provider but no endpoint of their own.
    base_url: str | None = None
    model: str = Field(default="gpt-4o-mini", min_length=1)
    # Sent only to base_url, never to an endpoint a character names.
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=30.0, gt=0)  # each read or write
    connect_timeout_s: float = Field(default=10.0, gt=0)
    deadline_s: float = Field(default=120.0, gt=0)  # a whole answer, retries included
    max_retries: int = Field(default=2, ge=0, le=10)
    backoff_s: float = Field(default=0.5, ge=0)
    max_backoff_s: float = Field(default=8.0, ge=0)
    # None: the runtime's per-request values. A temperature replaces the request's;
    # max_tokens caps it.
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    # Let a character choose its model and endpoint (modelProvider, settings.model,
    # settings.modelEndpointOverride, its OPENAI_API_KEY secret, ...). Off: every agent
    # gets the configured model.
    honour_character: bool = False
    # The hosts a character's own endpoint may be on: "host" (any port) or "host:port",
    # e.g. "api.openai.com", "10.0.0.5:8000", "[::1]:11434". Empty: any host, outside
    # production; production refuses honour_character without this list.
    character_endpoint_hosts: tuple[str, ...] = ()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not is_http_url(url):
            raise ValueError("must be an http:// or https:// URL with a host")
        return url

    @field_validator("api_key")
    @classmethod
    def _sendable_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and not is_header_safe(key.get_secret_value()):
            raise ValueError("contains whitespace or control characters")
        return key

    @field_validator("character_endpoint_hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_host_entry(entry) for entry in hosts)

    @model_validator(mode="after")
    def _openai_needs_an_endpoint(self) -> ModelConfig:
        if self.provider == "openai" and self.base_url is None:
            raise ValueError("provider 'openai' needs base_url")
        return self

    def check_startable(self, *, production: bool) -> None:
        """Fail closed on a configuration that would leak its key, or let API callers
        point the runtime at any host."""
        if production and self.honour_character and not self.character_endpoint_hosts:
            raise ConfigError(
                "production refuses honour_character without character_endpoint_hosts: "
                "list the hosts a character's own model endpoint may be on"
            )
        if (
            production
            and self.api_key is not None
            and self.base_url is not None
            and plain_http_off_host(self.base_url)
        ):
            raise ConfigError(
                "production refuses sending the model API key over plain http to another "
                "host; use https"
            )


def is_http_url(url: str) -> bool:
    if not is_header_safe(url):  # spaces or line breaks: parsers disagree about those
        return False
    try:
        parsed = urlsplit(url)
        _ = parsed.port  # ValueError for a port that is not 0-65535
        return parsed.scheme in ("http", "https") and bool(parsed.hostname)
    except ValueError:  # a malformed port or IPv6 address
        return False


def is_header_safe(text: str) -> bool:
    """Whether `text` has no whitespace or control characters (an API key, a URL)."""
    return not any(c.isspace() or not c.isprintable() for c in text)


def _host_entry(entry: str) -> str:
    """A character_endpoint_hosts entry, checked and lower-cased: "host" or "host:port"."""
    refused = ValueError(f"{entry!r} is not a host or host:port")
    if not is_header_safe(entry) or any(c in entry for c in "/?#@*\\"):
        raise refused
    try:
        parsed = urlsplit(f"//{entry}")
        host, port = parsed.hostname, parsed.port
    except ValueError:  # a port that is no number or out of range
        raise refused from None
    if not host:
        raise refused
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


def plain_http_off_host(url: str) -> bool:
    """Whether `url` is plain http to a host other than this one (loopback)."""
    parsed = urlsplit(url)
    return parsed.scheme == "http" and not _is_loopback(parsed.hostname or "")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost: it could resolve anywhere
        return False
