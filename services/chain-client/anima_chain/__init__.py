"""Anima's verifying chain client (host): proven reads, transactions through the enclave."""
