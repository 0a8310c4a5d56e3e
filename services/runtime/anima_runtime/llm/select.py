"""Which chat model an agent talks to: its character's choice, when the configuration
honours characters and an endpoint for it is known, else the configuration's.

A character chooses with ElizaOS's fields: `modelProvider` (or, in the v1 shape, a
`@elizaos/plugin-<provider>` plugin), `settings.model`, `settings.modelConfig`
({temperature, maxOutputTokens}), an endpoint in `settings.modelEndpointOverride` or the
setting/secret OPENAI_API_URL (OPENAI_BASE_URL in v1), and a key in the secrets
<PROVIDER>_API_KEY or OPENAI_API_KEY.

The configuration's API key goes only to the configuration's base_url: a character that
names an endpoint of its own gets its own key there, or none, so a character file cannot
send the operator's key elsewhere. A character is honoured only when the configuration says
so (honour_character), and its own endpoint only on a host of character_endpoint_hosts when
that list is set (production requires it). The model fields are checked either way, so a
character is valid or not whatever the runtime's configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from pydantic import SecretStr

from anima_runtime.character.model import Character
from anima_runtime.errors import InvalidCharacter
from anima_runtime.llm.base import ChatModel
from anima_runtime.llm.config import (
    ModelConfig,
    is_header_safe,
    is_http_url,
    plain_http_off_host,
)
from anima_runtime.llm.openai_chat import OpenAIChatModel

__all__ = ["OPENAI_COMPATIBLE", "ModelChoice", "chat_model_for", "choose_model"]

logger = logging.getLogger(__name__)

#: ElizaOS model providers whose APIs speak OpenAI's /chat/completions: OpenAI itself, the
#: local servers (Ollama, vLLM, LM Studio, LiteLLM's proxy), and the hosted APIs that
#: offer an OpenAI-compatible endpoint (OpenRouter, Together, Groq, DeepSeek, xAI's Grok,
#: EternalAI). Others (anthropic, google, ...) fall back to the configuration.
OPENAI_COMPATIBLE: Final = frozenset(
    {
        "openai",
        "ollama",
        "vllm",
        "lmstudio",
        "litellm",
        "openrouter",
        "together",
        "groq",
        "deepseek",
        "grok",
        "eternalai",
    }
)

_ENDPOINT_NAMES: Final = ("OPENAI_API_URL", "OPENAI_BASE_URL")
_PLUGIN_PREFIX: Final = "@elizaos/plugin-"


@dataclass(frozen=True)
class ModelChoice:
    """A chosen model, before any connection: what `build` makes, and why (for logs and
    the CLI; `reason` never carries a key)."""

    provider: str  # "offline", or a name in OPENAI_COMPATIBLE
    reason: str
    config: ModelConfig = field(repr=False)
    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = field(default=None, repr=False)
    temperature: float | None = None
    max_tokens: int | None = None

    def build(self, *, offline: Callable[[], ChatModel]) -> ChatModel:
        if self.base_url is None or self.model is None:
            return offline()
        c = self.config
        return OpenAIChatModel(
            base_url=self.base_url,
            model=self.model,
            api_key=self.api_key,
            provider=self.provider,
            timeout_s=c.timeout_s,
            connect_timeout_s=c.connect_timeout_s,
            deadline_s=c.deadline_s,
            max_retries=c.max_retries,
            backoff_s=c.backoff_s,
            max_backoff_s=c.max_backoff_s,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
        )


def chat_model_for(
    character: Character,
    config: ModelConfig,
    *,
    offline: Callable[[], ChatModel],
    production: bool = False,
) -> ChatModel:
    """The chat model `character` talks to (see choose_model); logs the reason."""
    choice = choose_model(character, config, production=production)
    logger.info("model for character %r: %s", character.name, choice.reason)
    return choice.build(offline=offline)


def choose_model(
    character: Character, config: ModelConfig, *, production: bool = False
) -> ModelChoice:
    """Raises InvalidCharacter for unusable model fields (whether or not they are
    honoured), for an endpoint on a host the configuration does not allow, and in
    production for a key that would go over plain http to another host."""
    provider = _provider_of(character)
    own_endpoint = _endpoint_of(character)
    own_key = _key_of(character, provider)
    model = _model_of(character) or config.model
    temperature, max_tokens = _model_config_of(character)
    if not config.honour_character:
        return _configured(config, "honour_character is false")
    if not provider:
        return _configured(config, "the character names no model provider")
    if provider not in OPENAI_COMPATIBLE:
        return _configured(
            config, f"the character's provider {provider!r} is not OpenAI-compatible"
        )
    if own_endpoint is None and config.base_url is None:
        return _configured(
            config,
            f"the character names {provider!r} but no endpoint is known "
            "(no modelEndpointOverride or OPENAI_API_URL, no base_url configured)",
        )
    if own_endpoint is not None and _same_url(own_endpoint, config.base_url):
        own_endpoint = None  # the configured endpoint after all: its key may go there
    if own_endpoint is not None:
        _check_host(character, own_endpoint, config, production=production)
    base_url = own_endpoint or config.base_url
    assert base_url is not None
    key = own_key if own_key is not None or own_endpoint is not None else config.api_key
    if production and key is not None and plain_http_off_host(base_url):
        raise InvalidCharacter(
            f"character {character.name!r}: production refuses sending an API key over plain "
            f"http to {_display(base_url)}; use https"
        )
    whose_key = "its own key" if own_key is not None else "the configured key" if key else "no key"
    return ModelChoice(
        provider=provider,
        reason=(
            f"the character's choice: {provider}:{model} at {_display(base_url)} "
            f"({'its own endpoint' if own_endpoint else 'the configured endpoint'}, {whose_key})"
        ),
        config=config,
        base_url=base_url,
        model=model,
        api_key=key,
        temperature=config.temperature if temperature is None else temperature,
        max_tokens=config.max_tokens if max_tokens is None else max_tokens,
    )


def _configured(config: ModelConfig, why: str) -> ModelChoice:
    if config.provider == "offline" or config.base_url is None:
        return ModelChoice(provider="offline", reason=f"the offline model ({why})", config=config)
    return ModelChoice(
        provider="openai",
        reason=f"the configured openai:{config.model} at {_display(config.base_url)} ({why})",
        config=config,
        base_url=config.base_url,
        model=config.model,
        api_key=config.api_key,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
    )


def _provider_of(character: Character) -> str:
    if character.model_provider:
        return character.model_provider.strip().lower()
    for plugin in character.plugins:  # the v1 shape: the model comes with a plugin
        name = plugin.strip().lower().removeprefix(_PLUGIN_PREFIX)
        if plugin.strip().lower().startswith(_PLUGIN_PREFIX) and name in OPENAI_COMPATIBLE:
            return name
    return ""


def _endpoint_of(character: Character) -> str | None:
    for name, value in [
        # v0.25 files carry it at the top level; some put it in settings.
        ("modelEndpointOverride", character.redacted_document.get("modelEndpointOverride")),
        ("settings.modelEndpointOverride", character.settings.get("modelEndpointOverride")),
        *((name, _setting(character, name)) for name in _ENDPOINT_NAMES),
    ]:
        if value is None or value == "":
            continue
        # The value is not quoted: it may carry credentials.
        if not isinstance(value, str) or not is_http_url(value) or not _client_parses(value):
            raise InvalidCharacter(
                f"character {character.name!r}: {name} is not an http:// or https:// URL"
            )
        return value
    return None


def _check_host(
    character: Character, endpoint: str, config: ModelConfig, *, production: bool
) -> None:
    """A character's own endpoint must be on a host of character_endpoint_hosts, when the
    list is set; in production it must be set."""
    hosts = config.character_endpoint_hosts
    if not hosts and not production:
        return
    url = httpx.URL(endpoint)  # parsed as the client will parse it
    host = url.host.lower()
    host = f"[{host}]" if ":" in host else host
    port = url.port or (443 if url.scheme == "https" else 80)
    if host in hosts or f"{host}:{port}" in hosts:
        return
    why = (
        "is not among the configured character_endpoint_hosts"
        if hosts
        else "cannot be checked: production allows a character's own endpoint only on the "
        "hosts of character_endpoint_hosts, and none are configured"
    )
    raise InvalidCharacter(
        f"character {character.name!r}: the model endpoint's host {host}:{port} {why}"
    )


def _key_of(character: Character, provider: str) -> SecretStr | None:
    """The character's key for `provider` (or OPENAI_API_KEY), checked: it goes into an
    Authorization header. Messages name the secret, never its value."""
    names = (f"{provider.upper()}_API_KEY", "OPENAI_API_KEY") if provider else ("OPENAI_API_KEY",)
    for name in dict.fromkeys(names):
        value = character.secrets.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidCharacter(f"character {character.name!r}: secret {name} is not a string")
        if not is_header_safe(value):
            raise InvalidCharacter(
                f"character {character.name!r}: secret {name} contains whitespace or control "
                "characters; an API key cannot"
            )
        return SecretStr(value)
    return None


def _model_of(character: Character) -> str | None:
    model = character.settings.get("model")
    if model is None or model == "":
        return None
    if not isinstance(model, str):
        raise InvalidCharacter(f"character {character.name!r}: settings.model is not a string")
    return model


def _model_config_of(character: Character) -> tuple[float | None, int | None]:
    """settings.modelConfig's temperature and maxOutputTokens, checked."""
    model_config: Any = character.settings.get("modelConfig")
    if model_config is None:
        return None, None
    if not isinstance(model_config, Mapping):
        raise InvalidCharacter(
            f"character {character.name!r}: settings.modelConfig is not an object"
        )
    temperature = model_config.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        raise InvalidCharacter(
            f"character {character.name!r}: settings.modelConfig.temperature must be a "
            "number from 0 to 2"
        )
    max_tokens = model_config.get("maxOutputTokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise InvalidCharacter(
            f"character {character.name!r}: settings.modelConfig.maxOutputTokens must be a "
            "positive integer"
        )
    return (None if temperature is None else float(temperature)), max_tokens


def _setting(character: Character, name: str) -> object:
    """A setting the character's secrets or its settings hold (ElizaOS getSetting)."""
    secret = character.secret(name)
    return secret if secret else character.settings.get(name)


def _client_parses(url: str) -> bool:
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return True


def _same_url(a: str, b: str | None) -> bool:
    return b is not None and a.rstrip("/") == b.rstrip("/")


def _display(url: str) -> str:
    """`url` for a reason or a message: without credentials or query string."""
    return str(httpx.URL(url).copy_with(userinfo=b"", query=None))
