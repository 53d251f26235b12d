"""The CUDA backend (``device=cuda``): kernels rendered by ``kernel/render_cuda.py``,
compiled to PTX and cached by ``module.py``, launched with the argument structs and
plans of ``launch.py`` on the device of ``runtime.py`` (PyCUDA), products on cuBLAS
(``cublas.py``); ``thunks.py`` decides how each node of a function runs.

Without a GPU the tests run all of it on a host emulation of the device
(tests/backend/cuda_device.py); docs/cuda.md says what that does not show.
"""
