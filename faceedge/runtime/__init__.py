"""The lean runtime: numpy, OpenCV and ONNX Runtime only (never TensorFlow), fed by manifests."""
