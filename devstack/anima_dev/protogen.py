"""Generate the Python protobuf and gRPC stubs from proto/ into packages/stubs/.

One generator for people (`./dev gen`) and for the test that checks the
committed stubs are exactly what the pinned grpcio-tools produces.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"
STUBS_ROOT = REPO_ROOT / "packages" / "stubs"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files(proto_root: Path = PROTO_ROOT) -> list[Path]:
    return sorted(proto_root.rglob("*.proto"))


def generate(out_dir: Path, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Write stubs for every .proto under proto_root into out_dir; return the files written."""
    from grpc_tools import protoc  # dev dependency: only needed to generate

    well_known = resources.files("grpc_tools") / "_proto"
    files = [str(p.relative_to(proto_root)) for p in proto_files(proto_root)]
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {files}")
    # Regular packages (not namespace ones) so imports work the same everywhere.
    for f in files:
        for parent in Path(f).parents:
            if parent != Path("."):
                (out_dir / parent / "__init__.py").touch()
    return sorted(_generated_files(out_dir))


def _generated_files(root: Path) -> Iterator[Path]:
    pkg = root / "anima"
    for path in pkg.rglob("*"):
        if path.is_file() and (
            path.name.endswith(GENERATED_SUFFIXES) or path.name == "__init__.py"
        ):
            yield path


def diff_against_committed() -> list[str]:
    """Names of stub files that differ from a fresh generation (empty when in sync)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh_root = Path(tmp)
        fresh = {p.relative_to(fresh_root): p.read_bytes() for p in generate(fresh_root)}
    committed = {p.relative_to(STUBS_ROOT): p.read_bytes() for p in _generated_files(STUBS_ROOT)}
    names = set(fresh) | set(committed)
    return sorted(str(n) for n in names if fresh.get(n) != committed.get(n))


def main() -> int:
    written = generate(STUBS_ROOT)
    print(f"generated {len(written)} files under {STUBS_ROOT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
