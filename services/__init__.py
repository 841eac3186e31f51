"""The llmops services; each package is one independently deployable process."""
