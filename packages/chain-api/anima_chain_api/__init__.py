"""What callers of the chain client service use: the client, domain types, wire conversion,
typed errors (the runtime's EVM plugin talks to the chain only through this package)."""
