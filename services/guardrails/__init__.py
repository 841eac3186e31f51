"""Guardrails: input and output checks under versioned policies (contract served; scanners arrive with issue #5)."""
