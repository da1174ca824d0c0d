"""Scorer plug-ins: each maps every candidate host to [0, 1]; the engine weights and sums."""
