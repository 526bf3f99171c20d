"""Models: the manifest, preparation of the offline default set, the dlib converter, ONNX sessions, file checks."""
