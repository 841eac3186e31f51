"""A real Triton server (PyTriton's bundled tritonserver) serving the TensorRT-LLM ensemble interface on CPU."""
