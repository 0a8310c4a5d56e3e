"""Vector store adapters behind one interface (embedded Qdrant Edge, Qdrant server)."""
