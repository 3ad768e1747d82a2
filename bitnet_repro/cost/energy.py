"""The paper's arithmetic-energy model (Sec. 2.3, Eq. 10-12, Tables 1-2).

Per-operation energies (Table 1; Horowitz 2014, Zhang et al. 2022), in pJ, at 45nm and 7nm. For a matrix
multiplication of weights [m, n] by activations [n, p]:

    full precision   E_add = m (n - 1) p Ê_add      (Eq. 10)      E_mul = m n p Ê_mul     (Eq. 11)
    BitNet           E_add = m (n - 1) p Ê_add(INT8)              E_mul = (m p + n p) Ê_mul  (Eq. 12)

Accounting that reproduces Table 2 (found by checking candidates against every cell; `table2` writes the
comparison, bitnet_repro/paper/energy.py): per layer, the six projections of a Transformer with a 4d two-
matrix FFN (12 d^2 weights; the output head is not counted) on p = 512 tokens, plus the two attention matmuls
Q K^T and A V (2 p^2 d multiply-adds per layer) in the model's precision. For BitNet the projections cost INT8
additions and the Eq. 12 rescaling multiplications (FP16), and the attention matmuls stay in FP16 (activations
are not binarized). Then every Transformer cell agrees within 0.5%, and 11 of the 12 BitNet cells agree within
5% or at the precision the paper prints (two decimals); the exception is BitNet 6.7B ADD at 7nm, 0.034 J
against 0.04 J (we found no accounting that moves it without breaking another cell).
"""

from __future__ import annotations

from dataclasses import dataclass

from bitnet_repro.presets import SIZES

# Table 1: pJ per operation, (45nm, 7nm)
OP_ENERGY_PJ = {
    "FP32": {"add": (0.9, 0.38), "mul": (3.7, 1.31)},
    "FP16": {"add": (0.4, 0.16), "mul": (1.1, 0.34)},
    "INT8": {"add": (0.03, 0.007), "mul": (0.2, 0.07)},
}
NODES = {"45nm": 0, "7nm": 1}
# Table 2's models (Table 10 shapes): hidden size, layers
# Table 2's sizes: d_model and layers of Table 10's b1 6.7B, 13B and 30B (the presets)
TABLE2_SIZES = {n: (SIZES[f"b1-{n}"]["d_model"], SIZES[f"b1-{n}"]["n_layers"]) for n in ("6.7B", "13B", "30B")}


def matmul_energy(m: int, n: int, p: int, bits: str, node: str, bitnet: bool = False) -> dict[str, float]:
    """Joules of one [m, n] x [n, p] matrix multiplication (Eq. 10-12)."""
    i = NODES[node]
    if bitnet:
        add = m * (n - 1) * p * OP_ENERGY_PJ["INT8"]["add"][i]
        mul = (m * p + n * p) * OP_ENERGY_PJ["FP16"]["mul"][i]
    else:
        add = m * (n - 1) * p * OP_ENERGY_PJ[bits]["add"][i]
        mul = m * n * p * OP_ENERGY_PJ[bits]["mul"][i]
    return {"add": add * 1e-12, "mul": mul * 1e-12}


@dataclass(frozen=True)
class Shape:
    d_model: int
    n_layers: int
    d_ff: int | None = None  # default 4 d (Table 10's two-matrix FFN)

    def projections(self) -> list[tuple[int, int]]:
        """(out, in) of the linear layers of one block."""
        d, f = self.d_model, self.d_ff or 4 * self.d_model
        return [(d, d)] * 4 + [(f, d), (d, f)]


def model_energy(shape: Shape, tokens: int, bits: str, node: str, bitnet: bool = False) -> dict[str, float]:
    """Joules to process `tokens` input tokens: every projection of every block, plus the attention matmuls
    (Q K^T and A V, in FP16 for BitNet, else in `bits`)."""
    total = {"add": 0.0, "mul": 0.0}
    for m, n in shape.projections():
        e = matmul_energy(m, n, tokens, bits, node, bitnet)
        for k in total:
            total[k] += e[k] * shape.n_layers
    attn_bits = "FP16" if bitnet else bits
    for _ in range(2):  # Q K^T: [p, d] x [d, p]; A V: [p, p] x [p, d]
        e = matmul_energy(tokens, shape.d_model, tokens, attn_bits, node)
        for k in total:
            total[k] += e[k] * shape.n_layers
    return total


def table2(tokens: int = 512) -> list[dict]:
    """Table 2's rows: Transformer FP32 and FP16 and BitNet, per size, MUL and ADD at 7nm and 45nm."""
    rows = []
    for size, (d, layers) in TABLE2_SIZES.items():
        shape = Shape(d, layers)
        for model, bits, bitnet in (("Transformer", "FP32", False), ("Transformer", "FP16", False),
                                    ("BitNet", "INT8", True)):  # fmt: skip
            row = {"model": model, "size": size, "wbits": {"FP32": 32, "FP16": 16, "INT8": 1}[bits]}
            for node in ("7nm", "45nm"):
                e = model_energy(shape, tokens, bits, node, bitnet)
                row[f"mul_j_{node}"], row[f"add_j_{node}"] = e["mul"], e["add"]
            rows.append(row)
    return rows
