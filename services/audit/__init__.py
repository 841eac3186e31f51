"""Audit: the append-only record of every platform event, queryable by compliance teams."""
