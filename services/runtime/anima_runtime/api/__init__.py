"""The runtime's HTTP API: agents, chat and memories under /v1/agents, beside the agents'
logs under /v1/logs (http.py); request and response bodies (schemas.py)."""
