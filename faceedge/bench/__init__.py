"""`faceedge bench`: every engine on the same machine, model and images, in one run.

The Keras model three ways, what a Keras user would otherwise pick on an edge device (LiteRT with
XNNPACK, OpenCV's DNN module), and faceedge's own artifacts on ONNX Runtime and TensorRT: latency
percentiles at batch 1, throughput at larger batches, accuracy through each engine, speed-ups
against every Keras row, and the share of the machine's measured peak (FP32 or INT8, as the row
computes) that each reaches.
"""
