"""Is everything installed? The setup report of model files (also checks ONNX framing)."""
