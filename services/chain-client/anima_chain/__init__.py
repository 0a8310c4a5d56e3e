"""Anima's verifying chain client service (host): proven reads and transactions through the enclave."""
