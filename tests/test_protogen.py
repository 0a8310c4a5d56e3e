"""The committed stubs are exactly what the pinned grpcio-tools generates from proto/."""

from __future__ import annotations

import importlib

from anima_dev.protogen import PROTO_ROOT, diff_against_committed, proto_files


def test_regenerating_the_stubs_changes_nothing() -> None:
    assert diff_against_committed() == []


def test_every_service_has_a_v1_proto_whose_package_matches_its_directory() -> None:
    services = {"signer", "runtime", "memory", "dasync", "chain"}
    found = {p.relative_to(PROTO_ROOT).parts[1] for p in proto_files()}
    assert services <= found
    for path in proto_files():
        package = ".".join(path.relative_to(PROTO_ROOT).parent.parts)
        assert f"package {package};" in path.read_text()


def test_stubs_import_from_any_directory(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for service in ("signer", "runtime", "memory", "dasync", "chain"):
        module = importlib.import_module(f"anima.{service}.v1.{service}_pb2_grpc")
        assert module.__name__.endswith("_pb2_grpc")
