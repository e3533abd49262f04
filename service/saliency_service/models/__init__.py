"""Model repository: configs, loading, the pixel-space classifier wrapper, ONNX Runtime."""
