"""Anima in the agent economy (issue 17).

Trust boundaries: `payer` runs in the runtime (an untrusted host) and can only ask
the enclave for EIP-3009 signatures, which the owner's policy judges there; it
believes a settlement only from a receipt the verifying chain client proved.
`facilitator` and `validator` are other parties' components (the seller's
settlement service, a third-party TEE validator): the agent trusts neither, and
`discovery` re-checks what they put on chain through proven storage reads.
"""
