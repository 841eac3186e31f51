"""Audit adapters: the stores behind the `AuditLog` port."""
