"""Where the chain client service listens and how a local client finds its certificate.

Kept apart from the client (no gRPC here), so configuration can name them without
loading a transport.
"""

from __future__ import annotations

from pathlib import Path

TLS_SERVER_NAME = "anima-chain.local"  # the name clients pin; no DNS involved
DEFAULT_ADDRESS = "127.0.0.1:7460"


def published_certificate_path(data_dir: Path) -> Path:
    """Where a chain service publishes its self-signed certificate for local clients to pin."""
    return data_dir / "tls" / "chain.pem"
