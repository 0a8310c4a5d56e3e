"""What callers of the memory service use: the client, domain types, wire conversion, typed errors,
and for several replicas the agent -> shard function (shards) and a client routing by agent.

The memory service and its callers share it; callers never import the service.
"""
