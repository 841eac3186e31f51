"""Generated protobuf and gRPC code for the llmops contracts. Do not edit: run scripts/gen_protos.py."""
