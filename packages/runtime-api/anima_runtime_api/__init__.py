"""What callers of the agent runtime use: the gRPC client, domain types, wire conversion,
typed errors.

The runtime service and its callers share it; callers never import the service.
"""
