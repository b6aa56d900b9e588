"""UTKFace as faceedge uses it: labels, loading, the split and dataset statistics. TensorFlow-free."""
