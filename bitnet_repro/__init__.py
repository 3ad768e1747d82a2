"""bitnet-repro: reproduce, extend and stress-test the BitNet papers (1-bit and 1.58-bit LLMs)."""

__version__ = "0.1.0"
