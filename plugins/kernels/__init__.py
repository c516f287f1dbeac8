"""Triton kernels shared by the ``cuda_fused`` backend and the ``joint_fused`` strategy (import triton).

Each kernel is written once as a plain function and turned into a launchable kernel per device by
:func:`dlrmbench_plugins.kernels.launch.kernel_for`: compiled with ``triton.jit`` for CUDA tensors,
run by Triton's interpreter for CPU tensors (tests, ``verify`` on the CPU).
"""
