"""Guardrails: input, output and document checks under versioned per-tenant policies."""
