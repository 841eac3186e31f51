"""The `llmops` command line: run the platform (`dev`, `serve`) and talk to it (`ingest`, `ask`, `audit`)."""
