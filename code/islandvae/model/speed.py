"""How fast training runs here (chapter 4): training steps and matrix multiplies, each bounded by seconds.

Rates come from islandvae.machine's measurements (a budget of seconds, bfloat16 reported and not timed where
this CPU has no native instructions for it); the bench/ scripts use the same functions with longer budgets.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import torch

from islandvae.config import Config, ModelConfig
from islandvae.machine import BUDGET, for_seconds, native_bf16
from islandvae.model.device import Precision, pick_precision
from islandvae.model.vae import VAE, loss_terms


def timed_precisions(config: Config, device: torch.device) -> list[Precision]:
    """What training_rates times: float32, and beside it bfloat16 autocast on the CPU (reported untimed where the CPU
    has no native bf16) or, on a GPU, the precision training picks there (bf16, or fp16 with a gradient scaler)."""
    fp32 = Precision(None, False, "float32")
    if device.type == "cuda":
        auto = pick_precision(
            dataclasses.replace(config, train=dataclasses.replace(config.train, precision="auto")), device
        )
        return [fp32] if auto.dtype is None else [fp32, auto]
    return [fp32, Precision(torch.bfloat16, False, "bfloat16 autocast")]


def training_rates(config: Config, *, seconds: float = BUDGET, device: str = "cpu") -> list[dict]:
    """Tiles/s of forward + backward + Adam step (random tiles of the config's size) per precision of
    timed_precisions, each for `seconds`; tiles/s None for bf16 on a CPU without native bf16 (not timed)."""
    s, device = config.sampling.tile_size, torch.device(device)
    x = torch.randn(config.sampling.batch_size, 1, s, s, device=device).contiguous(memory_format=torch.channels_last)
    rows = []
    for precision in timed_precisions(config, device):
        dtype = precision.dtype
        if dtype == torch.bfloat16 and device.type == "cpu" and not native_bf16():
            rows.append({"precision": precision.name, "tiles/s": None})
            continue
        torch.manual_seed(0)
        model = VAE(config.model, s).to(device).to(memory_format=torch.channels_last)  # as training has it
        optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
        scaler = torch.amp.GradScaler(device.type, enabled=precision.scaler)

        def step():
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                recon, mean, logvar = model(x)
            terms = loss_terms(x, recon, mean, logvar, model=model, beta=config.train.beta, l2=config.train.l2)
            optimizer.zero_grad()
            scaler.scale(terms["total"]).backward()
            scaler.step(optimizer)
            scaler.update()
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # a step counts when the GPU has finished it

        calls, elapsed = for_seconds(step, seconds)
        rows.append({"precision": precision.name, "tiles/s": len(x) * calls / elapsed})
    return rows


def matmul_rate(dtype: torch.dtype = torch.float32, *, n: int = 1024, seconds: float = BUDGET) -> float | None:
    """This CPU's measured matrix-multiply rate in GFLOP/s (n x n by n x n) over `seconds`; None for bf16 where
    the CPU has no native bf16."""
    if dtype == torch.bfloat16 and not native_bf16():
        return None
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    calls, elapsed = for_seconds(lambda: a @ b, seconds)
    return 2 * n**3 * calls / elapsed / 1e9


def flops_per_tile(config: Config, *, backward: bool = True, encoder: bool = False) -> float:
    """Forward + backward (or forward only) FLOPs of the model per tile, or of its encoder alone (forward, tile
    normalisation included: an analysis pass), by torch's FLOP counter (a fixed, tiny amount of work; two FLOPs per
    multiply-add). Counted once per model and tile size."""
    return _counted_flops(config.model, config.sampling.tile_size, backward and not encoder, encoder)


@functools.lru_cache(maxsize=32)
def _counted_flops(model_config: ModelConfig, s: int, backward: bool, encoder: bool = False) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model = VAE(model_config, s)
    x = torch.randn(2, 1, s, s)
    with FlopCounterMode(display=False) as counter, torch.set_grad_enabled(backward):
        if encoder:
            model.encode(x)
        else:
            recon, mean, logvar = model(x)
            total = loss_terms(x, recon, mean, logvar, model=model, beta=1.0, l2=0.0)["total"]
            if backward:
                total.backward()
    return counter.get_total_flops() / len(x)


# Sustained training rates assumed per GPU class (TFLOP/s as torch's FLOP counter counts), in the precision that
# model/device.py picks there. The peaks are the datasheets' dense tensor-core figures; the sustained rates are set
# from NVIDIA's DeepLearningExamples (PyTorch ResNet-50 v1.5 README): one A100 80GB trains 2,470 img/s in mixed
# precision, 61 TFLOP/s at 24.6 GFLOP per image (20 % of peak); one T4 infers 1,198 img/s at batch 256 in mixed
# precision, 9.8 TFLOP/s (15 %). This project's VAE has few channels at high resolution (memory-bound layers), so
# each is taken at about half of that share; measure the real rate with bench/train_speed.py on the GPU.
PEAKS = {
    "T4": 65.0,
    "V100": 125.0,
    "P100": 18.7,
    "A10G": 125.0,
    "L4": 121.0,
    "A100": 312.0,
    "H100": 989.0,
    "H200": 989.0,
}  # dense tensor-core fp16/bf16 TFLOP/s of the datasheets (no sparsity), by a part of the name
GPU_CLASSES = {
    "T4-class": {"precision": "Turing, fp16 + gradient scaler", "peak": PEAKS["T4"], "sustained": 5.0},
    "A100-class": {"precision": "bf16", "peak": PEAKS["A100"], "sustained": 30.0},
    "H100-class": {"precision": "bf16", "peak": PEAKS["H100"], "sustained": 60.0},
}


def training_plan(config: Config) -> list[dict]:
    """What `make report` trains for this config (the overfitting check, the VAE, chapter 5's comparison models):
    per model its steps and the FLOPs of its training steps and of its test-brain evaluations (at most: early
    stopping only shortens a run)."""
    from islandvae.model.runs import comparison_configs, debug_config

    models = {"overfitting check": debug_config(config), "VAE": config, **comparison_configs(config)}
    rows = []
    for label, c in models.items():
        t, step = c.train, flops_per_tile(c)
        evaluations = math.ceil(t.max_steps / t.eval_every)
        evaluating = evaluations * t.eval_tiles * flops_per_tile(c, backward=False)
        work = t.max_steps * c.sampling.batch_size * step + evaluating
        rows.append(
            {
                "model": label,
                "steps": t.max_steps,
                "batch": c.sampling.batch_size,
                "GFLOP per tile": step / 1e9,
                "PFLOP": work / 1e15,
            }
        )
    return rows


def plan_hours(plan: list[dict], tflops: float) -> float:
    """Hours the plan takes at a sustained `tflops` TFLOP/s."""
    return sum(r["PFLOP"] for r in plan) * 1e15 / (tflops * 1e12) / 3600


def budget_text(config: Config) -> str:
    """Chapter 4's sentence: what everything `make report` trains for this config costs, in FLOPs and in time at the
    sustained rate assumed per GPU class."""
    plan = training_plan(config)
    pflop = sum(r["PFLOP"] for r in plan)

    def span(hours: float) -> str:
        if hours >= 1:
            return f"{hours:.1f} h"
        return f"{60 * hours:.0f} min" if hours >= 1 / 60 else f"{3600 * hours:.0f} s"

    at = "; ".join(
        f"{name} {span(plan_hours(plan, r['sustained']))} at {r['sustained']:g} TFLOP/s"
        for name, r in GPU_CLASSES.items()
    )
    return (
        f"Everything `make report` trains for config `{config.name}` ({len(plan)} models: "
        f"{', '.join(r['model'] for r in plan)}) is {pflop:.3g} PFLOP of training and evaluation steps, counted by "
        f"torch's FLOP counter (early stopping only shortens it). At the sustained rates assumed per GPU class "
        f"(not measured here; `bench/train_speed.py --config` prints the plan and times it on a GPU): {at}. "
        f"The rates are for GPU-sized models; a small model's steps are bound by fixed overheads, not FLOPs, so "
        f"for it these times are lower bounds."
    )


def speed_table(config: Config, flops: float, *, seconds: float = BUDGET) -> list[dict]:
    """Chapter 4's table: per precision, tiles/s, achieved GFLOP/s (from `flops` per tile) and the matmul rate, or
    why it was not timed."""
    peak = {
        "fp32": matmul_rate(torch.float32, seconds=seconds),
        "bf16 autocast": matmul_rate(torch.bfloat16, seconds=seconds),
    }
    rows = []
    for r in training_rates(config, seconds=seconds):
        if r["tiles/s"] is None:
            rows.append(
                {
                    "precision": r["precision"],
                    "tiles/s": "not timed: no native bf16 on this CPU",
                    "GFLOP/s": "-",
                    "matmul GFLOP/s": "-",
                }
            )
        else:
            rows.append({**r, "GFLOP/s": r["tiles/s"] * flops / 1e9, "matmul GFLOP/s": peak[r["precision"]]})
    return rows


CPU_CEILING = 0.25  # TFLOP/s: a run whose plan takes less than train.max_hours even at this rate is let through
# without measuring (2 AVX-512 cores train at about 0.1); above it the CPU's own rate, measured, decides


def run_estimate(config: Config, device: torch.device, *, done=lambda: 0) -> dict | None:
    """How long the rest of this run (from step done(), asked only when needed) takes on `device` by its plan: its
    training and evaluation FLOPs over a rate, on a GPU the sustained rate of its class (GPU_CLASSES, by the name's
    part in PEAKS; the T4-class for any other), on the CPU the rate measured here for 2 s (training_rates, float32).
    None where it cannot exceed train.max_hours (a CPU run below it even at CPU_CEILING from its first step)."""
    t = config.train

    def work(steps: int) -> float:
        evaluations = math.ceil(steps / t.eval_every)
        return steps * config.sampling.batch_size * flops_per_tile(
            config
        ) + evaluations * t.eval_tiles * flops_per_tile(config, backward=False)

    if device.type == "cpu" and work(t.max_steps) / (CPU_CEILING * 1e12) / 3600 <= t.max_hours:
        return None
    left = work(max(t.max_steps - done(), 0))
    if not left:  # a finished run: nothing left to plan
        return {"hours": 0.0, "PFLOP": 0.0, "TFLOP/s": None, "how": "finished"}
    if device.type == "cuda":
        rate, how = gpu_rate(device)
    else:
        tiles = training_rates(config, seconds=2.0)[0]["tiles/s"]
        rate, how = tiles * flops_per_tile(config) / 1e12, "this CPU, float32 measured for 2 s"
    return {"hours": left / (rate * 1e12) / 3600, "PFLOP": left / 1e15, "TFLOP/s": rate, "how": how}


def gpu_rate(device: torch.device) -> tuple[float, str]:
    """The sustained TFLOP/s assumed for this GPU (the class of GPU_CLASSES whose peak is nearest its own, by the
    part of its name in PEAKS; a T4's for a GPU not named there), and how it was chosen."""
    name = torch.cuda.get_device_name(device)
    peak = next((v for k, v in PEAKS.items() if k in name), PEAKS["T4"])
    label = min(GPU_CLASSES, key=lambda c: abs(GPU_CLASSES[c]["peak"] - peak))
    return GPU_CLASSES[label]["sustained"], f"{name}, at the {label} rate assumed in model/speed.py"


def too_long(config: Config, doing: str, estimate: dict, ways: str):
    """The one-line refusal of a plan longer than train.max_hours (check_run_plan, and the analysis's in
    islands/plan.py): what would run, its estimate (`estimate`: hours, PFLOP, TFLOP/s and how that rate was
    found), and the ways on (`ways`, then always train.max_hours raised by someone who means it)."""
    from islandvae.errors import UserError
    from islandvae.files import show

    where = show(config.source) if config.source else "the config"
    return UserError(
        f"{doing} {config.name} here would take about {estimate['hours']:,.0f} h by its plan "
        f"({estimate['PFLOP']:.3g} PFLOP at {estimate['TFLOP/s']:.3g} TFLOP/s: {estimate['how']}), more than "
        f"train.max_hours = {config.train.max_hours:g}; {ways}, or set train.max_hours = "
        f"{math.ceil(estimate['hours'])} in {where} if you mean it"
    )


def check_run_plan(config: Config, device: torch.device, *, done=lambda: 0) -> None:
    """Stop before a run starts when its plan takes longer than train.max_hours here: one line with the estimate
    and the ways on (a GPU, a smaller config, or train.max_hours raised by someone who means it)."""
    estimate = run_estimate(config, device, done=done)
    if estimate is None or estimate["hours"] <= config.train.max_hours:
        return
    raise too_long(
        config,
        "training",
        estimate,
        "train on a GPU (docs/gpu.md), choose a smaller config (configs/default.toml)",
    )
