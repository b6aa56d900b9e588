"""Evaluation shared by every stage: one report for Keras models and for every exported artifact."""
