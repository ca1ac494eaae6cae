"""Training throughput of the config's model on this CPU: fp32 against bfloat16 autocast, read against FLOPs.

    .venv/bin/python bench/train_speed.py [--config configs/real.toml] [--plan-only] [--seconds 10] [--where]
                                          [--alternatives]

First the plan: what `make report` trains for the config (the overfitting check, the VAE, chapter 5's comparison
models), each model's FLOPs per tile and its steps, the PFLOP in all, and the hours it takes at the sustained rate
assumed per GPU class (model/speed.py's GPU_CLASSES, with their sources); `--plan-only` stops there.
Prints the CPU (model, cores, vector level, native bfloat16 or not), tiles/s of forward + backward +
Adam step for `--seconds` per precision (tile and batch from the config; random tiles, the loader is
measured by bench/loader_speed.py), the model's forward+backward FLOPs per tile (torch's FLOP counter),
the achieved GFLOP/s, and this CPU's measured fp32 and bf16 matrix-multiply rate. bfloat16 is not timed
on a CPU without native bf16 (it would run about a hundred times slower). On a CUDA machine it also
times the same steps on the GPU, in fp32 and in the precision training picks there (bf16 from compute capability
8.0, else fp16 with a gradient scaler), and prints the TFLOP/s, their ratio to the GPU's datasheet peak (where the
GPU is in PEAKS, or `--peak`) and the plan's hours at the measured rate.
Time to quality (test-brain MSE after 2, 5 and 10 minutes) comes from the config's run, if trained.
It prints the ratio of the fp32 training rate to the fp32 matmul rate measured in the same run. `--where`: the
share of a training step's time per kind of operation (torch profiler, over `--seconds` of steps).
`--alternatives`: the fp32 step in other forms, each timed for `--seconds` beside the project's (channels-last,
foreach Adam): contiguous (NCHW) tensors, the fused Adam step, and torch.compile, whose compile time is printed
with the number of steps it would take to pay for itself (compiling takes about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from islandvae.config import load_config
from islandvae.errors import UserError
from islandvae.machine import describe_cpu, for_seconds
from islandvae.model.curves import time_to_quality
from islandvae.model.device import describe_device
from islandvae.model.runs import Run, read_metrics
from islandvae.model.speed import (
    GPU_CLASSES,
    PEAKS,
    flops_per_tile,
    matmul_rate,
    plan_hours,
    training_plan,
    training_rates,
)
from islandvae.model.vae import VAE, loss_terms

KINDS = {
    "convolution backward": ("convolution_backward",),
    "convolution": ("convolution",),
    "GroupNorm": ("group_norm",),
    "SiLU": ("silu",),
    "Adam step": ("Optimizer.step", "_foreach", "lerp", "addcdiv", "addcmul", "sqrt"),
}


def show_plan(config) -> list[dict]:
    """Print what `make report` trains for `config` and the hours it takes per GPU class; return the plan."""
    plan = training_plan(config)
    for r in plan:
        print(
            f"  {r['model']}: {r['steps']:,} steps of {r['batch']} tiles, {r['GFLOP per tile']:.2f} GFLOP per tile "
            f"(forward + backward), {r['PFLOP']:.2f} PFLOP with its evaluations"
        )
    print(f"  in all {sum(r['PFLOP'] for r in plan):.1f} PFLOP (early stopping can only shorten it):")
    for name, rate in GPU_CLASSES.items():
        print(
            f"    {name} ({rate['precision']}): {plan_hours(plan, rate['sustained']):.1f} h at "
            f"{rate['sustained']:g} TFLOP/s sustained "
            f"(assumed; peak {rate['peak']:g})"
        )
    return plan


def stepper(config, *, layout=torch.channels_last, fused: bool = False, compiled: bool = False):
    """One fp32 training step (forward, loss, backward, Adam) of the config's model on a fixed random batch."""
    s = config.sampling.tile_size
    x = torch.randn(config.sampling.batch_size, 1, s, s).contiguous(memory_format=layout)
    torch.manual_seed(0)
    model = VAE(config.model, s).to(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr, fused=fused or None)
    forward = torch.compile(model) if compiled else model

    def step():
        recon, mean, logvar = forward(x)
        terms = loss_terms(x, recon, mean, logvar, model=model, beta=config.train.beta, l2=config.train.l2)
        optimizer.zero_grad()
        terms["total"].backward()
        optimizer.step()

    return step


def where(config, seconds: float) -> None:
    """The share of a training step's CPU time per kind of operation, by torch's profiler."""
    from torch.profiler import ProfilerActivity, profile

    step = stepper(config)
    for_seconds(step, 1.0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        calls, _ = for_seconds(step, seconds)
    shares = dict.fromkeys([*KINDS, "other"], 0.0)
    events = [e for e in prof.key_averages() if e.key.startswith(("aten::", "Optimizer."))]
    for e in events:
        kind = next((k for k, names in KINDS.items() if any(n in e.key for n in names)), "other")
        if not (kind == "convolution" and "backward" in e.key):
            shares[kind] += e.self_cpu_time_total
    total = sum(shares.values())
    print(
        f"where a training step's time goes ({calls} steps profiled): "
        + ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in shares.items())
    )


def alternatives(config, seconds: float, rounds: int = 2) -> None:
    """tiles/s of the fp32 step in other forms, beside the project's, measured in `rounds` interleaved rounds
    (this machine's speed drifts by about 10 %: a form is faster only where every round says so)."""
    forms = {
        "channels-last, foreach Adam (the project's)": {},
        "contiguous (NCHW)": {"layout": torch.contiguous_format},
        "fused Adam": {"fused": True},
        "torch.compile": {"compiled": True},
    }
    steps, compile_s, rates = {}, {}, {name: [] for name in forms}
    for name, kwargs in forms.items():
        steps[name] = stepper(config, **kwargs)
        start = time.perf_counter()
        steps[name]()  # the first step compiles, where there is anything to compile
        compile_s[name] = time.perf_counter() - start
    for _ in range(rounds):
        for name in forms:
            calls, elapsed = for_seconds(steps[name], seconds)
            rates[name].append(config.sampling.batch_size * calls / elapsed)
    base = rates[next(iter(forms))]
    for name, r in rates.items():
        change = ", ".join(f"{100 * (a / b - 1):+.0f} %" for a, b in zip(r, base))
        line = f"{name}: " + " / ".join(f"{v:,.0f}" for v in r) + f" tiles/s ({change} per round)"
        if forms[name].get("compiled"):
            saved = config.sampling.batch_size * (1 / min(base) - 1 / max(r))  # seconds saved per step at best
            line += (
                f"; first step {compile_s[name]:.0f} s (compiling; an inductor cache on disk shortens it), paid "
                f"back after {compile_s[name] / saved:,.0f} steps at best"
                if saved > 0
                else f"; first step {compile_s[name]:.0f} s (compiling), never paid back"
            )
        print(line, flush=True)


def on_the_gpu(config, flops: float, plan: list[dict], seconds: float, peak: float | None) -> None:
    """Time training steps on the GPU (fp32 and the precision training picks) and read them against the plan."""
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    peak = peak or next((v for k, v in PEAKS.items() if k in name), None)
    print(f"GPU: {describe_device(device)}; datasheet peak {f'{peak:g} TFLOP/s' if peak else 'unknown (--peak)'}")
    for row in training_rates(config, seconds=seconds, device="cuda"):
        tflops = row["tiles/s"] * flops / 1e12
        share = f", {100 * tflops / peak:.1f} % of the peak" if peak else ""
        print(
            f"{row['precision']} on the GPU: {row['tiles/s']:,.0f} tiles/s = {tflops:,.2f} TFLOP/s{share}; "
            f"the plan at this rate: {plan_hours(plan, tflops):.2f} h",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="the config to plan and time (default: the selected one)")
    parser.add_argument("--plan-only", action="store_true", help="print the plan and its hours per GPU class only")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per measured setting")
    parser.add_argument("--peak", type=float, help="the GPU's peak TFLOP/s, where PEAKS does not know it")
    parser.add_argument("--where", action="store_true", help="where a training step's time goes (profiler)")
    parser.add_argument("--alternatives", action="store_true", help="time NCHW, fused Adam and torch.compile")
    args = parser.parse_args()
    config = load_config(args.config)
    flops = flops_per_tile(config)
    print(f"config {config.name}: what `make report` trains")
    plan = show_plan(config)
    if args.plan_only:
        return 0
    print(f"CPU: {describe_cpu()}")
    print(
        f"config {config.name}: tile {config.sampling.tile_size}, batch {config.sampling.batch_size}, "
        f"{flops / 1e9:.2f} GFLOP per tile (forward + backward), {torch.get_num_threads()} threads"
    )
    if torch.cuda.is_available():  # first: the GPU's figures are the point there, the CPU's take long at this size
        on_the_gpu(config, flops, plan, args.seconds, args.peak)
    trained = {}
    for row in training_rates(config, seconds=args.seconds):
        if row["tiles/s"] is None:
            print(f"{row['precision']}: not timed (no native bfloat16 on this CPU)")
        else:
            trained[row["precision"]] = row["tiles/s"] * flops / 1e9
            print(f"{row['precision']}: {row['tiles/s']:,.0f} tiles/s = {trained[row['precision']]:,.1f} GFLOP/s")
    rates = {
        name: matmul_rate(dtype, seconds=args.seconds)
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }
    print(
        "matmul (1024^3): "
        + ", ".join(f"{name} {'not timed' if r is None else f'{r:,.0f} GFLOP/s'}" for name, r in rates.items())
    )
    print(f"fp32 training at {100 * trained['fp32'] / rates['fp32']:.0f} % of the fp32 matmul rate")
    if args.where:
        where(config, args.seconds)
    if args.alternatives:
        alternatives(config, args.seconds)
    run = Run.of(config)
    if run.metrics.is_file():
        for row in time_to_quality(read_metrics(run)):
            print(f"after {row['minutes']} min of training (step {row['step']}): best test MSE {row['test MSE']:.3f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as err:  # a config that is missing or wrong: one line, exit status 1
        sys.exit(f"train_speed: {err}")
