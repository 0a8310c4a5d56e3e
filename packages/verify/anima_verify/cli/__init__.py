"""Command lines of the verification library (`anima-verify`)."""
