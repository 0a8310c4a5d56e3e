"""load_config: defaults → file → environment, and errors that name without echoing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from anima_core.config import ConfigError, FrozenConfig, load_config
from anima_verify.errors import ErrorKind


class Tls(FrozenConfig):
    cert_file: str = "cert.pem"
    key_file: str = "key.pem"


class Settings(FrozenConfig):
    listen: str = "127.0.0.1:50051"
    workers: int = 4
    debug: bool = False
    agent_prefix: str = "agent"
    chain_ids: tuple[int, ...] = (1,)
    api_token: SecretStr | None = None
    tls: Tls = Field(default_factory=Tls)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_nothing_is_given() -> None:
    assert load_config(Settings, env_prefix="ANIMA_T", environ={}) == Settings()


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        "signer.toml",
        'listen = "0.0.0.0:1"\nworkers = 8\n'
        '[tls]\ncert_file = "/etc/a.pem"\nkey_file = "/etc/k.pem"\n',
    )
    env = {"ANIMA_T_WORKERS": "16", "ANIMA_T_TLS__CERT_FILE": "/run/b.pem"}
    config = load_config(Settings, env_prefix="ANIMA_T", file=file, environ=env)
    assert config.listen == "0.0.0.0:1"  # file
    assert config.workers == 16  # env over file
    assert config.tls == Tls(cert_file="/run/b.pem", key_file="/etc/k.pem")  # merged per leaf
    assert config.debug is False  # default


def test_command_line_overrides_environment_and_none_means_not_given() -> None:
    env = {"ANIMA_T_WORKERS": "16", "ANIMA_T_LISTEN": "0.0.0.0:2"}
    config = load_config(
        Settings,
        env_prefix="ANIMA_T",
        environ=env,
        overrides={"workers": 32, "listen": None, "debug": True},
    )
    assert (config.workers, config.listen, config.debug) == (32, "0.0.0.0:2", True)
    with pytest.raises(ConfigError) as info:
        load_config(Settings, env_prefix="ANIMA_T", environ={}, overrides={"workers": "many"})
    assert "workers" in str(info.value) and "the command line" in str(info.value)


def test_json_file(tmp_path: Path) -> None:
    file = write(tmp_path, "c.json", '{"workers": 2, "chain_ids": [1, 8453]}')
    config = load_config(Settings, env_prefix="ANIMA_T", file=file, environ={})
    assert (config.workers, config.chain_ids) == (2, (1, 8453))


def test_environment_values() -> None:
    env = {
        "ANIMA_T_CHAIN_IDS": "[1, 8453]",  # JSON array
        "ANIMA_T_DEBUG": "true",
        "ANIMA_T_AGENT_PREFIX": "007",  # stays a string
        "ANIMA_T_TLS": '{"cert_file": "c", "key_file": "k"}',  # a whole nested model
        "ANIMA_T_TLS__KEY_FILE": "k2",  # the deeper name wins
        "ANIMA_T_SERVICE_HOST": "10.0.0.1",  # not a field: ignored (k8s service links)
        "OTHER_WORKERS": "99",
    }
    config = load_config(Settings, env_prefix="ANIMA_T", environ=env)
    assert config.chain_ids == (1, 8453)
    assert config.debug is True
    assert config.agent_prefix == "007"
    assert config.tls == Tls(cert_file="c", key_file="k2")
    assert config.workers == 4


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIMA_T_WORKERS", "3")
    assert load_config(Settings, env_prefix="ANIMA_T").workers == 3


def test_result_is_frozen() -> None:
    config = load_config(Settings, env_prefix="ANIMA_T", environ={})
    with pytest.raises(ValidationError):
        config.workers = 5


def test_bad_environment_value_names_field_and_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(Settings, env_prefix="ANIMA_T", environ={"ANIMA_T_WORKERS": "many"})
    message = str(info.value)
    assert "workers" in message and "ANIMA_T_WORKERS" in message
    assert "many" not in message
    assert info.value.kind is ErrorKind.FAILED_PRECONDITION


def test_unknown_key_in_file_names_key_and_file(tmp_path: Path) -> None:
    file = write(tmp_path, "c.toml", "[tls]\ncert_file = 'a'\nkye_file = 'oops'\n")
    with pytest.raises(ConfigError) as info:
        load_config(Settings, env_prefix="ANIMA_T", file=file, environ={})
    assert "tls.kye_file" in str(info.value) and str(file) in str(info.value)


def test_unknown_nested_environment_name_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"tls\.cert_flie.*ANIMA_T_TLS__CERT_FLIE"):
        load_config(Settings, env_prefix="ANIMA_T", environ={"ANIMA_T_TLS__CERT_FLIE": "x"})


def test_secret_values_are_never_echoed(tmp_path: Path) -> None:
    secret = "sk-live-4242-do-not-print"
    file = write(tmp_path, "c.toml", f"api_token = ['{secret}']\n")  # wrong type
    with pytest.raises(ConfigError) as info:
        load_config(Settings, env_prefix="ANIMA_T", file=file, environ={})
    assert "api_token" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in repr(info.value)

    config = load_config(Settings, env_prefix="ANIMA_T", environ={"ANIMA_T_API_TOKEN": secret})
    assert config.api_token is not None and config.api_token.get_secret_value() == secret
    assert secret not in repr(config) and secret not in str(config)


class WithValidatedKey(FrozenConfig):
    signing_key: SecretStr
    label: str = "x"

    @field_validator("signing_key", "label")
    @classmethod
    def short(cls, value: SecretStr | str) -> SecretStr | str:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if len(raw) > 8:
            raise ValueError(f"too long: {raw}")  # a careless validator quoting the value
        return value


def test_validator_messages_for_secret_fields_are_replaced() -> None:
    secret = "0xdeadbeefcafebabe"
    with pytest.raises(ConfigError) as info:
        load_config(
            WithValidatedKey,
            env_prefix="ANIMA_T",
            environ={"ANIMA_T_SIGNING_KEY": secret, "ANIMA_T_LABEL": "long-label-text"},
        )
    message = str(info.value)
    assert "signing_key: rejected by its validator" in message
    assert secret not in message
    # Non-secret fields keep the validator's message, which helps the operator.
    assert "label: Value error, too long" in message


def test_missing_required_field_is_blamed_on_defaults() -> None:
    with pytest.raises(ConfigError, match=r"signing_key: Field required \(from defaults\)"):
        load_config(WithValidatedKey, env_prefix="ANIMA_T", environ={})


@pytest.mark.parametrize(
    ("name", "text", "complaint"),
    [
        ("c.toml", "workers = = 3\n", "invalid TOML"),
        ("c.json", '{"workers": }', "invalid JSON"),
        ("c.json", "[1, 2]", "top level must be an object"),
        ("c.yaml", "workers: 3\n", "unsupported suffix"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, complaint: str) -> None:
    file = write(tmp_path, name, text)
    with pytest.raises(ConfigError, match=complaint):
        load_config(Settings, env_prefix="ANIMA_T", file=file, environ={})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(Settings, env_prefix="ANIMA_T", file=tmp_path / "nope.toml", environ={})


def test_models_must_be_frozen_and_strict() -> None:
    class Loose(BaseModel):
        workers: int = 1

    with pytest.raises(TypeError, match="frozen"):
        load_config(Loose, env_prefix="ANIMA_T", environ={})
