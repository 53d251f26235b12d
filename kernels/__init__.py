"""graphad's hand-written C/CUDA sources, shipped as package data.

In the source tree this folder is ``kernels/``; setup.cfg maps it to the package
``graphad.kernels`` so a wheel carries it. Find it with
``graphad.backend.kernels_dir()``, never by a path relative to a module.
"""
