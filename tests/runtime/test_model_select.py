"""Which chat model an agent gets (models/select.py) and the model configuration's rules
(models/config.py). Characters are parsed from ElizaOS documents as the runtime loads them."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import SecretStr

from anima_core.config import ConfigError, load_config
from anima_runtime.character.load import load_character, parse_character
from anima_runtime.character.model import Character
from anima_runtime.errors import InvalidCharacter
from anima_runtime.llm.base import ChatModel
from anima_runtime.llm.config import ModelConfig, plain_http_off_host
from anima_runtime.llm.openai_chat import OpenAIChatModel
from anima_runtime.llm.select import ModelChoice, chat_model_for, choose_model
from tests.runtime.conftest import CHARACTERS
from tests.runtime.fake_openai import API_KEY, Answer, FakeOpenAI
from tests.runtime.test_openai_chat import request_for

CONFIGURED = "https://llm.internal.example/v1"
CONFIG_KEY = "sk-config-key-000111222333"
CHARACTER_KEY = "sk-character-key-444555666"
OWN_ENDPOINT = "https://own.example.com/v1"


def character(**fields: Any) -> Character:
    return parse_character({"name": "Ada", "bio": ["tests things"], **fields}, source="test")


def config(**fields: Any) -> ModelConfig:
    """A configuration that honours characters (the default does not), with `fields`."""
    return ModelConfig.model_validate({"honour_character": True, **fields})


#: The default configuration, but honouring characters.
HONOURING = config()


def assert_no_key(choice: ModelChoice) -> None:
    for key in (CONFIG_KEY, CHARACTER_KEY):
        assert key not in choice.reason
        assert key not in repr(choice)


def key_of(choice: ModelChoice) -> str | None:
    return None if choice.api_key is None else choice.api_key.get_secret_value()


class Offline:
    """Stands for the offline model: only its identity matters here."""

    name = "offline"

    async def complete(self, request: Any) -> str:
        raise NotImplementedError

    def stream(self, request: Any) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


def test_the_default_is_offline_even_for_a_character_naming_openai() -> None:
    choice = choose_model(character(modelProvider="openai"), ModelConfig())
    assert choice.provider == "offline"
    assert choice.base_url is None
    assert "honour_character is false" in choice.reason
    honoured = choose_model(character(modelProvider="openai"), HONOURING)
    assert honoured.provider == "offline"
    assert "no endpoint is known" in honoured.reason


def test_a_character_naming_openai_uses_the_configured_endpoint_and_key() -> None:
    choice = choose_model(
        character(modelProvider="openai", settings={"model": "gpt-4o"}),
        config(base_url=CONFIGURED, api_key=CONFIG_KEY, model="configured-model"),
    )
    assert (choice.provider, choice.base_url, choice.model) == ("openai", CONFIGURED, "gpt-4o")
    assert key_of(choice) == CONFIG_KEY
    assert "the configured endpoint" in choice.reason
    assert "the configured key" in choice.reason
    assert_no_key(choice)


def test_a_character_s_own_endpoint_and_key() -> None:
    choice = choose_model(
        character(
            modelProvider="OpenRouter",
            settings={"modelEndpointOverride": OWN_ENDPOINT, "secrets": {}},
            secrets={"OPENROUTER_API_KEY": CHARACTER_KEY},
        ),
        config(base_url=CONFIGURED, api_key=CONFIG_KEY),
    )
    assert (choice.provider, choice.base_url) == ("openrouter", OWN_ENDPOINT)
    assert key_of(choice) == CHARACTER_KEY
    assert choice.reason.startswith("the character's choice: openrouter:gpt-4o-mini at ")
    assert "its own endpoint, its own key" in choice.reason
    assert_no_key(choice)


def test_the_configured_key_never_goes_to_a_character_s_endpoint() -> None:
    choice = choose_model(
        character(modelProvider="openai", settings={"OPENAI_API_URL": "https://evil.example/v1"}),
        config(provider="openai", base_url=CONFIGURED, api_key=CONFIG_KEY),
    )
    assert choice.base_url == "https://evil.example/v1"
    assert choice.api_key is None
    assert "no key" in choice.reason


def test_a_character_naming_the_configured_endpoint_may_use_its_key() -> None:
    choice = choose_model(
        character(modelProvider="vllm", settings={"modelEndpointOverride": CONFIGURED + "/"}),
        config(base_url=CONFIGURED, api_key=CONFIG_KEY),
    )
    assert choice.base_url == CONFIGURED
    assert key_of(choice) == CONFIG_KEY


def test_the_character_s_key_comes_from_its_secrets_in_either_place() -> None:
    for doc in (
        {"secrets": {"OPENAI_API_KEY": CHARACTER_KEY}},
        {"settings": {"secrets": {"OPENAI_API_KEY": CHARACTER_KEY}}},
    ):
        choice = choose_model(
            character(modelProvider="groq", **doc), config(base_url=CONFIGURED, api_key=CONFIG_KEY)
        )
        assert key_of(choice) == CHARACTER_KEY
        assert "its own key" in choice.reason
        assert_no_key(choice)


def test_the_endpoint_may_be_a_secret() -> None:
    choice = choose_model(
        character(modelProvider="openai", secrets={"OPENAI_API_URL": OWN_ENDPOINT}), HONOURING
    )
    assert choice.base_url == OWN_ENDPOINT


def test_model_config_temperature_and_max_output_tokens() -> None:
    choice = choose_model(
        character(
            modelProvider="ollama",
            settings={"modelConfig": {"temperature": 0, "maxOutputTokens": 256}},
        ),
        config(base_url="http://127.0.0.1:11434/v1", temperature=0.9, max_tokens=4096),
    )
    assert (choice.temperature, choice.max_tokens) == (0.0, 256)
    plain = choose_model(
        character(modelProvider="ollama"),
        config(base_url="http://127.0.0.1:11434/v1", temperature=0.9, max_tokens=4096),
    )
    assert (plain.temperature, plain.max_tokens) == (0.9, 4096)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"settings": {"modelEndpointOverride": "ftp://x.example"}}, "modelEndpointOverride"),
        ({"settings": {"modelEndpointOverride": 7}}, "modelEndpointOverride"),
        ({"settings": {"OPENAI_API_URL": "not a url"}}, "OPENAI_API_URL"),
        ({"settings": {"model": ["gpt"]}}, "settings.model"),
        ({"settings": {"modelConfig": "hot"}}, "modelConfig is not an object"),
        ({"settings": {"modelConfig": {"temperature": "hot"}}}, "temperature"),
        ({"settings": {"modelConfig": {"temperature": 3}}}, "temperature"),
        ({"settings": {"modelConfig": {"temperature": True}}}, "temperature"),
        ({"settings": {"modelConfig": {"maxOutputTokens": 0}}}, "maxOutputTokens"),
        ({"settings": {"modelConfig": {"maxOutputTokens": 1.5}}}, "maxOutputTokens"),
    ],
)
def test_unusable_model_fields_are_refused(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidCharacter, match=words) as caught:
        choose_model(character(modelProvider="openai", **fields), config(base_url=CONFIGURED))
    assert "Ada" in str(caught.value)


def test_an_endpoint_with_credentials_is_not_shown() -> None:
    choice = choose_model(
        character(
            modelProvider="openai",
            settings={"modelEndpointOverride": "https://user:hunter2@own.example.com/v1?key=abc"},
        ),
        HONOURING,
    )
    assert "hunter2" not in choice.reason
    assert "abc" not in choice.reason
    assert "https://own.example.com/v1" in choice.reason


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({}, "names no model provider"),
        ({"modelProvider": "anthropic"}, "'anthropic' is not OpenAI-compatible"),
    ],
)
def test_other_characters_get_the_configured_model(fields: dict[str, Any], why: str) -> None:
    for cfg, provider in (
        (HONOURING, "offline"),
        (config(provider="openai", base_url=CONFIGURED, api_key=CONFIG_KEY), "openai"),
    ):
        choice = choose_model(character(**fields), cfg)
        assert choice.provider == provider
        assert why in choice.reason
        assert_no_key(choice)
    configured = choose_model(
        character(**fields),
        config(provider="openai", base_url=CONFIGURED, api_key=CONFIG_KEY, temperature=0.3),
    )
    assert (configured.base_url, configured.model) == (CONFIGURED, "gpt-4o-mini")
    assert key_of(configured) == CONFIG_KEY
    assert configured.temperature == 0.3


def test_a_character_is_not_honoured_when_configured_so() -> None:
    choice = choose_model(
        character(modelProvider="openai", settings={"modelEndpointOverride": OWN_ENDPOINT}),
        config(honour_character=False),
    )
    assert choice.provider == "offline"
    assert "honour_character is false" in choice.reason


def test_a_v1_character_names_its_provider_by_plugin() -> None:
    choice = choose_model(
        character(plugins=["@elizaos/plugin-sql", "@elizaos/plugin-ollama"]),
        config(base_url="http://127.0.0.1:11434/v1"),
    )
    assert choice.provider == "ollama"
    other = choose_model(character(plugins=["@elizaos/plugin-anthropic"]), HONOURING)
    assert "names no model provider" in other.reason


def test_production_refuses_a_key_over_plain_http_to_another_host() -> None:
    doc = {
        "modelProvider": "openai",
        "settings": {"modelEndpointOverride": "http://10.0.0.5:8000/v1"},
        "secrets": {"OPENAI_API_KEY": CHARACTER_KEY},
    }
    allowed = config(character_endpoint_hosts=["10.0.0.5", "127.0.0.1:8000"])
    assert choose_model(character(**doc), allowed).base_url == "http://10.0.0.5:8000/v1"
    with pytest.raises(InvalidCharacter, match="plain http") as caught:
        choose_model(character(**doc), allowed, production=True)
    assert CHARACTER_KEY not in str(caught.value)
    # Without a key, or to this host, plain http is fine.
    keyless = {**doc, "secrets": {}}
    assert choose_model(character(**keyless), allowed, production=True).api_key is None
    local = {**doc, "settings": {"modelEndpointOverride": "http://127.0.0.1:8000/v1"}}
    assert choose_model(character(**local), allowed, production=True).api_key is not None


def test_the_reference_characters() -> None:
    if not CHARACTERS.is_dir():
        pytest.skip(f"reference characters not found at {CHARACTERS}")
    served = config(base_url="http://127.0.0.1:8000/v1")
    got = {
        path.name.removesuffix(".character.json"): choose_model(load_character(path), served)
        for path in sorted(CHARACTERS.glob("*.character.json"))
    }
    assert {name: choice.provider for name, choice in got.items()} == {
        "c3po": "offline",  # anthropic
        "dobby": "openai",
        "eternalai": "eternalai",
        "trump": "openai",
    }
    for name in ("dobby", "trump"):
        assert choose_model(load_character(CHARACTERS / f"{name}.character.json"), HONOURING)
        assert got[name].base_url == "http://127.0.0.1:8000/v1"


async def test_chat_model_for_builds_the_choice_and_logs_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    offline = Offline()
    with caplog.at_level(logging.INFO, logger="anima_runtime.llm.select"):
        model = chat_model_for(character(), HONOURING, offline=lambda: offline)
    assert model is offline
    assert "the offline model (the character names no model provider)" in caplog.text

    with FakeOpenAI.start() as fake:
        fake.script(Answer("from the character's model"))
        ada = character(
            modelProvider="openai",
            settings={"model": "ada-model", "modelEndpointOverride": fake.base_url},
            secrets={"OPENAI_API_KEY": API_KEY},
        )
        cfg = config(base_url=CONFIGURED, api_key=CONFIG_KEY, deadline_s=7, max_retries=0)
        chat: ChatModel = chat_model_for(ada, cfg, offline=lambda: offline)
        assert isinstance(chat, OpenAIChatModel)
        assert chat.name.startswith("openai:ada-model@127.0.0.1:")
        try:
            assert await chat.complete(request_for()) == "from the character's model"
        finally:
            await chat.aclose()
        (seen,) = fake.requests
        assert seen.authorization == f"Bearer {API_KEY}"
        assert seen.body["model"] == "ada-model"


def test_config_rules() -> None:
    with pytest.raises(ConfigError, match="provider 'openai' needs base_url"):
        load_config(ModelConfig, env_prefix="T", environ={"T_PROVIDER": "openai"})
    with pytest.raises(ConfigError, match="base_url"):
        load_config(ModelConfig, env_prefix="T", environ={"T_BASE_URL": "file:///etc/passwd"})
    loaded = load_config(
        ModelConfig,
        env_prefix="T",
        environ={
            "T_PROVIDER": "openai",
            "T_BASE_URL": "http://10.1.2.3:8000/v1",
            "T_API_KEY": CONFIG_KEY,
            "T_TEMPERATURE": "0.2",
        },
    )
    assert isinstance(loaded.api_key, SecretStr)
    assert CONFIG_KEY not in repr(loaded)
    loaded.check_startable(production=False)
    with pytest.raises(ConfigError, match="plain http") as caught:
        loaded.check_startable(production=True)
    assert CONFIG_KEY not in str(caught.value)
    for fine in (
        loaded.model_copy(update={"base_url": "https://10.1.2.3/v1"}),
        loaded.model_copy(update={"base_url": "http://127.0.0.1:8000/v1"}),
        loaded.model_copy(update={"api_key": None}),
    ):
        fine.check_startable(production=True)


def test_loopback_is_judged_by_address() -> None:
    assert not plain_http_off_host("http://localhost:1/v1")
    assert not plain_http_off_host("http://127.0.0.9:1/v1")
    assert not plain_http_off_host("http://[::1]:1/v1")
    assert not plain_http_off_host("https://api.openai.com/v1")
    assert plain_http_off_host("http://api.openai.com/v1")
    assert plain_http_off_host("http://localhost.evil.example/v1")
    assert plain_http_off_host("http://10.0.0.1/v1")


def test_top_level_model_endpoint_override_of_v025_files_is_honoured() -> None:
    character = parse_character(
        {
            "name": "Endpointed",
            "modelProvider": "openai",
            "modelEndpointOverride": "http://127.0.0.1:9/v1",
        },
        source="test",
    )
    choice = choose_model(character, HONOURING)
    assert choice.provider == "openai"
    assert choice.base_url == "http://127.0.0.1:9/v1"


# ---------------------------------------------------------------- regressions


def test_regression_ssrf_characters_are_not_honoured_by_default() -> None:
    """Regression: honour_character defaulted to true, so a character sent over the API
    pointed the runtime at any URL (and read the answer back in the error)."""
    assert ModelConfig().honour_character is False
    ada = character(modelProvider="openai", settings={"modelEndpointOverride": OWN_ENDPOINT})
    offline = choose_model(ada, ModelConfig())
    assert (offline.provider, offline.base_url) == ("offline", None)
    configured = choose_model(
        ada,
        ModelConfig.model_validate(
            {"provider": "openai", "base_url": CONFIGURED, "api_key": CONFIG_KEY}
        ),
    )
    assert configured.base_url == CONFIGURED
    assert "honour_character is false" in configured.reason


def test_regression_ssrf_production_needs_character_endpoint_hosts() -> None:
    """Production refuses honour_character without an allow-list of hosts, at startup and
    (should startup checks be skipped) per character."""
    open_ended = config()
    open_ended.check_startable(production=False)
    with pytest.raises(ConfigError, match="character_endpoint_hosts"):
        open_ended.check_startable(production=True)
    ModelConfig().check_startable(production=True)  # not honouring: nothing to allow
    config(character_endpoint_hosts=["own.example.com"]).check_startable(production=True)
    ada = character(modelProvider="openai", settings={"modelEndpointOverride": OWN_ENDPOINT})
    assert choose_model(ada, open_ended).base_url == OWN_ENDPOINT  # outside production
    with pytest.raises(InvalidCharacter, match="none are configured"):
        choose_model(ada, open_ended, production=True)
    # The configured endpoint is no character's choice: always allowed.
    mine = character(modelProvider="openai", settings={"modelEndpointOverride": CONFIGURED})
    assert choose_model(mine, config(base_url=CONFIGURED), production=True).base_url


@pytest.mark.parametrize(
    ("endpoint", "allowed"),
    [
        ("https://own.example.com/v1", True),
        ("https://OWN.Example.com:8443/v1", True),  # "host": any port
        ("http://10.0.0.5:8000/v1", True),
        ("http://10.0.0.5:8001/v1", False),  # "host:port": that port only
        ("https://api.openai.com/v1", True),  # 443 named or implied
        ("http://api.openai.com/v1", False),  # port 80
        ("http://[::1]:11434/v1", True),
        ("http://169.254.169.254/latest/meta-data", False),
        ("http://own.example.com@169.254.169.254/v1", False),  # userinfo, not the host
        ("http://own.example.com\\@169.254.169.254/v1", False),
        ("http://own.example.com.evil.example/v1", False),
    ],
)
def test_regression_ssrf_a_character_endpoint_only_on_allowed_hosts(
    endpoint: str, allowed: bool
) -> None:
    cfg = config(
        character_endpoint_hosts=["own.example.com", "10.0.0.5:8000", "api.openai.com:443", "[::1]"]
    )
    ada = character(modelProvider="openai", settings={"modelEndpointOverride": endpoint})
    for production in (False, True):
        if allowed:
            assert choose_model(ada, cfg, production=production).base_url == endpoint
        else:
            with pytest.raises(InvalidCharacter, match="not among the configured") as caught:
                choose_model(ada, cfg, production=production)
            assert "Ada" in str(caught.value)


@pytest.mark.parametrize(
    "entry", ["https://own.example.com", "own.example.com/v1", "*.example.com", "u@h", "h:99999"]
)
def test_character_endpoint_hosts_entries_are_checked(entry: str) -> None:
    with pytest.raises(ConfigError, match="character_endpoint_hosts"):
        load_config(
            ModelConfig, env_prefix="T", environ={"T_CHARACTER_ENDPOINT_HOSTS": f'["{entry}"]'}
        )
    assert config(character_endpoint_hosts=["Own.Example.COM:443"]).character_endpoint_hosts == (
        "own.example.com:443",
    )


@pytest.mark.parametrize(
    ("secrets", "name"),
    [
        ({"OPENAI_API_KEY": "sk-abc def-SECRETPART"}, "OPENAI_API_KEY"),
        ({"OPENAI_API_KEY": "sk-SECRETPART\r\nX-Evil: 1"}, "OPENAI_API_KEY"),
        ({"GROQ_API_KEY": "\tsk-SECRETPART"}, "GROQ_API_KEY"),
        ({"OPENAI_API_KEY": True}, "OPENAI_API_KEY"),
    ],
)
def test_regression_a_character_key_with_whitespace_is_an_invalid_character(
    secrets: dict[str, Any], name: str
) -> None:
    """Regression: such a key reached the HTTP client, whose ValueError became a 500; now
    it is InvalidCharacter (400) naming the secret, never its value, honoured or not."""
    groq = character(
        modelProvider="groq",
        settings={"modelEndpointOverride": OWN_ENDPOINT},
        secrets=secrets,
    )
    for cfg in (HONOURING, ModelConfig()):
        with pytest.raises(InvalidCharacter, match=name) as caught:
            choose_model(groq, cfg)
        assert "SECRETPART" not in str(caught.value)


def test_a_configured_key_with_whitespace_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="api_key") as caught:
        load_config(ModelConfig, env_prefix="T", environ={"T_API_KEY": "sk-abc def-SECRETPART"})
    assert "SECRETPART" not in str(caught.value)


@pytest.mark.parametrize(
    "endpoint",
    ["http://exa mple.com/v1", "http://example.com:99999/v1", "http://example.com\n/v1"],
)
def test_endpoints_the_http_client_would_misread_are_refused(endpoint: str) -> None:
    ada = character(modelProvider="openai", settings={"modelEndpointOverride": endpoint})
    with pytest.raises(InvalidCharacter, match="modelEndpointOverride"):
        choose_model(ada, HONOURING)
