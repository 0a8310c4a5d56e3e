"""TokenAuthInterceptor on a real loopback server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from anima.chain.v1 import chain_pb2
from anima_core.auth import TokenAuthInterceptor, bearer_metadata, token_digest
from anima_core.config import ConfigError

from .conftest import GET_HEAD, GET_MANIFEST, STREAMS, Request, Running, running

RUNTIME_TOKEN = "rt-7f3a9c1e-runtime-token"
ADMIN_TOKEN = "ad-0b8e44d2-admin-token"
CALLERS = {token_digest(RUNTIME_TOKEN): "runtime", token_digest(ADMIN_TOKEN): "admin"}
ACL = {
    GET_MANIFEST: frozenset({"runtime"}),
    f"/{STREAMS}/Echo": frozenset({"admin"}),
}


def interceptor() -> TokenAuthInterceptor:
    return TokenAuthInterceptor(callers=CALLERS, acl=ACL, public_methods=frozenset({GET_HEAD}))


@pytest.fixture
async def guarded() -> AsyncIterator[Running]:
    async with running(interceptors=[interceptor()]) as r:
        yield r


async def manifest_code(
    r: Running, metadata: tuple[tuple[str, str], ...] | None
) -> grpc.StatusCode:
    try:
        await r.dasync.GetLatestManifest(Request(agent_id="a"), metadata=metadata)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_allowed_caller_gets_through_and_the_handler_knows_who(guarded: Running) -> None:
    response = await guarded.dasync.GetLatestManifest(
        Request(agent_id="abc"), metadata=bearer_metadata(RUNTIME_TOKEN)
    )
    assert response.version == 3
    assert guarded.behaviour.callers == ["runtime"]


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        bearer_metadata("not-a-known-token"),
        bearer_metadata(""),
        (("authorization", RUNTIME_TOKEN),),  # no scheme
        (("authorization", f"Basic {RUNTIME_TOKEN}"),),
        (("authorization", f"Bearer {token_digest(RUNTIME_TOKEN)}"),),  # the digest is no token
        bearer_metadata(RUNTIME_TOKEN) + bearer_metadata(ADMIN_TOKEN),  # ambiguous
    ],
    ids=["none", "unknown", "empty", "no-scheme", "basic", "digest", "two-headers"],
)
async def test_missing_or_bad_token_is_unauthenticated(
    guarded: Running, metadata: tuple[tuple[str, str], ...] | None
) -> None:
    assert await manifest_code(guarded, metadata) == grpc.StatusCode.UNAUTHENTICATED
    assert guarded.behaviour.callers == []  # the handler never ran


async def test_scheme_is_case_insensitive(guarded: Running) -> None:
    metadata = (("authorization", f"bearer {RUNTIME_TOKEN}"),)
    assert await manifest_code(guarded, metadata) == grpc.StatusCode.OK


async def test_known_caller_outside_the_list_is_denied_by_name(guarded: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await guarded.dasync.GetLatestManifest(Request(), metadata=bearer_metadata(ADMIN_TOKEN))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'admin'" in (info.value.details() or "")
    assert GET_MANIFEST in (info.value.details() or "")
    assert guarded.behaviour.callers == []


async def test_method_without_a_list_is_denied_by_default(guarded: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await guarded.streams.Collect(iter([Request()]), metadata=bearer_metadata(RUNTIME_TOKEN))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_denied_bidi_call_is_refused_before_the_client_writes(guarded: Running) -> None:
    # Refused with a unary-shaped handler, this call would wait for a request
    # that never comes; the deadline only turns such a hang into a failure.
    call = guarded.streams.Echo(metadata=bearer_metadata(RUNTIME_TOKEN), timeout=30)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_allowed_bidi_call(guarded: Running) -> None:
    call = guarded.streams.Echo(metadata=bearer_metadata(ADMIN_TOKEN))
    await call.write(Request(agent_id="ab"))
    assert (await call.read()).version == 2
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK


async def test_public_method_needs_no_token_and_has_no_caller(guarded: Running) -> None:
    response = await guarded.chain.GetVerifiedHead(chain_pb2.GetVerifiedHeadRequest(chain_id=7))
    assert response.number == 7
    assert guarded.behaviour.callers == [None]


async def test_health_and_reflection_are_always_public(guarded: Running) -> None:
    health = health_pb2_grpc.HealthStub(guarded.channel)
    await health.Check(health_pb2.HealthCheckRequest())
    call = reflection_pb2_grpc.ServerReflectionStub(guarded.channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    assert (await call.read()).list_services_response.service
    call.cancel()


async def test_tokens_never_reach_the_logs(
    guarded: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await manifest_code(guarded, bearer_metadata(RUNTIME_TOKEN))
        await manifest_code(guarded, bearer_metadata(ADMIN_TOKEN))
        await manifest_code(guarded, bearer_metadata("wrong-" + RUNTIME_TOKEN))
    assert RUNTIME_TOKEN not in caplog.text
    assert ADMIN_TOKEN not in caplog.text


def test_token_digest_is_sha256_hex() -> None:
    # FIPS 180-2 test vector.
    assert token_digest("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_bearer_metadata_shape() -> None:
    assert bearer_metadata("t") == (("authorization", "Bearer t"),)


@pytest.mark.parametrize(
    ("callers", "acl", "public", "complaint"),
    [
        ({"abc": "runtime"}, {}, frozenset(), "64 lowercase hex"),
        ({token_digest("x").upper(): "runtime"}, {}, frozenset(), "64 lowercase hex"),
        (CALLERS, {GET_MANIFEST: frozenset({"runtme"})}, frozenset(), "unknown callers"),
        (CALLERS, {"anima.signer.v1.SignerService/Sign": frozenset()}, frozenset(), "form"),
        (CALLERS, {}, frozenset({"/NoMethod"}), "form"),
    ],
    ids=["short-digest", "upper-digest", "acl-typo", "no-leading-slash", "public-malformed"],
)
def test_inconsistent_configuration_is_refused(
    callers: dict[str, str], acl: dict[str, frozenset[str]], public: frozenset[str], complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        TokenAuthInterceptor(callers=callers, acl=acl, public_methods=public)


async def test_for_roles_cuts_access_lists_to_the_configured_roles() -> None:
    only_runtime = TokenAuthInterceptor.for_roles(
        {"runtime": token_digest(RUNTIME_TOKEN)},
        {GET_MANIFEST: frozenset({"runtime", "admin"}), f"/{STREAMS}/Echo": frozenset({"admin"})},
        public_methods=frozenset({GET_HEAD}),
    )
    async with running(interceptors=[only_runtime]) as r:
        assert await manifest_code(r, bearer_metadata(RUNTIME_TOKEN)) == grpc.StatusCode.OK
        # The admin token is not configured: unknown, whatever the access list said.
        assert await manifest_code(r, bearer_metadata(ADMIN_TOKEN)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
