"""What callers of the memory service use: the client, domain types, wire conversion, typed errors.

The memory service and its callers share it; callers never import the service.
"""
