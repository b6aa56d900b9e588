"""The training stage: Keras 3 (TensorFlow) gender classifiers trained on UTKFace.

Importing a submodule imports TensorFlow; the lean runtime never does.
"""
