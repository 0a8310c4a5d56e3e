"""Text embedders: all-MiniLM-L6-v2 on ONNX Runtime (default) or an OpenAI-compatible endpoint."""
