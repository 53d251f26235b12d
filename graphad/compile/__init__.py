"""Compiled functions: ga.function, shared variables, modes, the VM."""
