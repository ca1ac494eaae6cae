"""Training throughput of the config's model on this CPU: fp32 against bfloat16 autocast, read against FLOPs.

    .venv/bin/python bench/train_speed.py [--seconds 10]

Prints the CPU (model, cores, vector level, native bfloat16 or not), tiles/s of forward + backward +
Adam step for `--seconds` per precision (tile and batch from the config; random tiles, the loader is
measured by bench/loader_speed.py), the model's forward+backward FLOPs per tile (torch's FLOP counter),
the achieved GFLOP/s, and this CPU's measured fp32 and bf16 matrix-multiply rate. bfloat16 is not timed
on a CPU without native bf16 (it would run about a hundred times slower). On a CUDA machine it also
times the same steps on the GPU.
Time to quality (test-brain MSE after 2, 5 and 10 minutes) comes from the config's run, if trained.
"""

from __future__ import annotations

import argparse

import torch
from islandvae.config import load_config
from islandvae.curves import time_to_quality
from islandvae.speed import describe_cpu, flops_per_tile, matmul_rate, training_rates
from islandvae.train import Run, read_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="time per measured setting")
    args = parser.parse_args()
    config = load_config()
    flops = flops_per_tile(config)
    print(f"CPU: {describe_cpu()}")
    print(f"config {config.name}: tile {config.sampling.tile_size}, batch {config.sampling.batch_size}, "
          f"{flops / 1e9:.2f} GFLOP per tile (forward + backward), {torch.get_num_threads()} threads")
    for row in training_rates(config, seconds=args.seconds):
        if row["tiles/s"] is None:
            print(f"{row['precision']}: not timed (no native bfloat16 on this CPU)")
        else:
            print(f"{row['precision']}: {row['tiles/s']:,.0f} tiles/s = {row['tiles/s'] * flops / 1e9:,.1f} GFLOP/s")
    rates = {name: matmul_rate(dtype, seconds=args.seconds) for name, dtype in (("fp32", torch.float32),
                                                                                ("bf16", torch.bfloat16))}
    print("matmul (1024^3): " + ", ".join(f"{name} {'not timed' if r is None else f'{r:,.0f} GFLOP/s'}"
                                          for name, r in rates.items()))
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}")
        for row in training_rates(config, seconds=args.seconds, device="cuda"):
            print(f"{row['precision']} on the GPU: {row['tiles/s']:,.0f} tiles/s = "
                  f"{row['tiles/s'] * flops / 1e12:,.2f} TFLOP/s")
    run = Run.of(config)
    if run.metrics.is_file():
        for row in time_to_quality(read_metrics(run)):
            print(f"after {row['minutes']} min of training (step {row['step']}): best test MSE {row['test MSE']:.3f}")


if __name__ == "__main__":
    main()
