"""The C backend: one CPython extension module per compiled function."""
