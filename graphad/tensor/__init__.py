"""Tensor types, variables and every tensor op."""
