"""Low-bit weight formats and kernels (packed ternary / binary / base-3 weights)."""
