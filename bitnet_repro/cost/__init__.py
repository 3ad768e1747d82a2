"""Cost: the arithmetic-energy model (`energy`, Eq. 10-12), latency, memory and throughput measured through
real low-bit engines at the paper's shapes (`measure`), and the training-step benchmark (`train_bench`)."""
