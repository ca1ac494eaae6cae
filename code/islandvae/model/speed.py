"""How fast training runs here (chapter 4): training steps and matrix multiplies, each bounded by seconds.

Rates come from islandvae.machine's measurements (a budget of seconds, bfloat16 reported and not timed where
this CPU has no native instructions for it); the bench/ scripts use the same functions with longer budgets.
"""

from __future__ import annotations

import torch

from islandvae.config import Config
from islandvae.machine import BUDGET, for_seconds, native_bf16
from islandvae.model.vae import VAE, loss_terms


def training_rates(config: Config, *, seconds: float = BUDGET, device: str = "cpu") -> list[dict]:
    """Tiles/s of forward + backward + Adam step (random tiles of the config's size), fp32 and bf16 autocast, each
    for `seconds`; on the CPU bf16 only where it runs natively (tiles/s None otherwise)."""
    s, device = config.sampling.tile_size, torch.device(device)
    x = torch.randn(config.sampling.batch_size, 1, s, s, device=device).contiguous(memory_format=torch.channels_last)
    rows = []
    for name, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        if dtype is not None and device.type == "cpu" and not native_bf16():
            rows.append({"precision": name, "tiles/s": None})
            continue
        torch.manual_seed(0)
        model = VAE(config.model, s).to(device).to(memory_format=torch.channels_last)  # as training has it
        optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)

        def step():
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                recon, mean, logvar = model(x)
            terms = loss_terms(x, recon, mean, logvar, model=model, beta=config.train.beta, l2=config.train.l2)
            optimizer.zero_grad()
            terms["total"].backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # a step counts when the GPU has finished it
        calls, elapsed = for_seconds(step, seconds)
        rows.append({"precision": name, "tiles/s": len(x) * calls / elapsed})
    return rows


def matmul_rate(dtype: torch.dtype = torch.float32, *, n: int = 1024, seconds: float = BUDGET) -> float | None:
    """This CPU's measured matrix-multiply rate in GFLOP/s (n x n by n x n) over `seconds`; None for bf16 where
    the CPU has no native bf16."""
    if dtype == torch.bfloat16 and not native_bf16():
        return None
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    calls, elapsed = for_seconds(lambda: a @ b, seconds)
    return 2 * n**3 * calls / elapsed / 1e9


def flops_per_tile(config: Config) -> float:
    """Forward + backward FLOPs of the model per tile, by torch's FLOP counter (a fixed, tiny amount of work)."""
    from torch.utils.flop_counter import FlopCounterMode

    s = config.sampling.tile_size
    model = VAE(config.model, s)
    x = torch.randn(2, 1, s, s)
    with FlopCounterMode(display=False) as counter:
        recon, mean, logvar = model(x)
        loss_terms(x, recon, mean, logvar, model=model, beta=1.0, l2=0.0)["total"].backward()
    return counter.get_total_flops() / len(x)


def speed_table(config: Config, flops: float, *, seconds: float = BUDGET) -> list[dict]:
    """Chapter 4's table: per precision, tiles/s, achieved GFLOP/s (from `flops` per tile) and the matmul rate, or
    why it was not timed."""
    peak = {"fp32": matmul_rate(torch.float32, seconds=seconds),
            "bf16 autocast": matmul_rate(torch.bfloat16, seconds=seconds)}
    rows = []
    for r in training_rates(config, seconds=seconds):
        if r["tiles/s"] is None:
            rows.append({"precision": r["precision"], "tiles/s": "not timed: no native bf16 on this CPU",
                         "GFLOP/s": "-", "matmul GFLOP/s": "-"})
        else:
            rows.append({**r, "GFLOP/s": r["tiles/s"] * flops / 1e9, "matmul GFLOP/s": peak[r["precision"]]})
    return rows
