"""Inference: generation on Triton over the TensorRT-LLM ensemble interface, with token and cost accounting."""
