"""What callers of the signer use: the attested client, domain types, wire conversion, typed errors.

The signer service and its callers share it; callers never import the service.
"""
