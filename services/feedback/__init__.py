"""Feedback: ratings, evaluation and drift (contract served; the loop arrives with issue #7)."""
