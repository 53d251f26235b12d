"""The graph IR: variables, applies, ops and function graphs. Knows nothing of tensors."""
