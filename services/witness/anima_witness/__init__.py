"""Anima's witness service (C2SP tlog-witness): cosigns a log's checkpoint only when
its signature verifies and it extends the last one cosigned for that log."""
