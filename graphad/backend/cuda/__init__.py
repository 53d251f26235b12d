"""The CUDA backend (issue 10): kernels rendered by ``kernel/render_cuda.py``, compiled
to PTX and cached by ``module.py``, launched with the argument structs and launch plans
of ``launch.py``.

Without a GPU the launch plans are exercised by running the generated CUDA source
compiled as host C++ (tests/kernel/test_cuda_emulated.py); the PyCUDA runtime that
launches them on a device is not written yet.
"""
