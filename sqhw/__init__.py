"""sqhw: number formats and N:M sparsity, from one Python definition to bit-exact hardware.

Importing sqhw stays light: torch, amaranth, numba and triton load only where used.
"""

__version__ = "0.1.0"
