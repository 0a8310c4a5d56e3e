"""The da-sync service's gRPC face."""
