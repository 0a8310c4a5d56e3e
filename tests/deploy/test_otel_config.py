"""anima_core.otel: the OTEL_* switches are read strictly, and sampling follows them."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased

from anima_core.config import ConfigError
from anima_core.otel import configure_telemetry, sampler_from


def _sampled(sampler: object, trace_id: int) -> bool:
    result = sampler.should_sample(None, trace_id, "span")  # type: ignore[attr-defined]
    return bool(result.decision is Decision.RECORD_AND_SAMPLE)


def test_the_default_samples_every_new_trace_and_follows_the_caller() -> None:
    sampler = sampler_from({})
    assert isinstance(sampler, ParentBased)
    assert _sampled(sampler, 1)


def test_a_ratio_sampler_keeps_only_its_share_of_new_traces() -> None:
    env = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}
    sampler = sampler_from(env)
    kept = sum(_sampled(sampler, (i * 0x9E3779B97F4A7C15) % 2**128) for i in range(1, 4001))
    assert 800 < kept < 1200  # trace ids spread evenly: about a quarter
    assert isinstance(sampler_from({"OTEL_TRACES_SAMPLER": "traceidratio"}), TraceIdRatioBased)
    assert not _sampled(sampler_from({"OTEL_TRACES_SAMPLER": "always_off"}), 1)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json"}, "METRICS_PROTOCOL"),
        ({"OTEL_SDK_DISABLED": "yes"}, "OTEL_SDK_DISABLED"),
    ],
)
def test_a_wrong_switch_refuses_the_start_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        configure_telemetry("anima-test", env)


def test_nothing_is_installed_without_an_endpoint_or_when_disabled() -> None:
    quiet = configure_telemetry("anima-test", {})
    assert quiet.tracer_provider is None and quiet.meter_provider is None
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    off = configure_telemetry("anima-test", {**endpoint, "OTEL_SDK_DISABLED": "true"})
    assert off.tracer_provider is None and off.meter_provider is None
    none = {**endpoint, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    assert configure_telemetry("anima-test", none).tracer_provider is None
