"""Models: the manifest, preparation of the offline default set, ONNX wrappers' inputs."""
