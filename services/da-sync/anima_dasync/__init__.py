"""DA sync (host side): publish an agent's sealed life data to DA backends without ever
dropping history, and fetch it back verified. Sealing and signing happen in the
enclave (anima_signer.lifedata); nothing here can read or forge life data."""
