"""Training throughput of the config's model on this CPU: fp32 against bfloat16 autocast, read against FLOPs.

    .venv/bin/python bench/train_speed.py [--batches 20]

Prints tiles/s of forward + backward + Adam step (tile and batch from the config; random tiles, the
loader is measured by bench/loader_speed.py), the model's forward+backward FLOPs per tile (torch's
FLOP counter), the achieved GFLOP/s, and this CPU's measured fp32 and bf16 matrix-multiply rate.
Time to quality (test-brain MSE after 2, 5 and 10 minutes) comes from the config's run, if trained.
"""

from __future__ import annotations

import argparse

import torch

from islandvae.config import load_config
from islandvae.curves import flops_per_tile, matmul_peak, time_to_quality, training_rates
from islandvae.train import Run, read_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    config = load_config()
    flops = flops_per_tile(config)
    print(f"config {config.name}: tile {config.sampling.tile_size}, batch {config.sampling.batch_size}, "
          f"{flops / 1e9:.2f} GFLOP per tile (forward + backward), {torch.get_num_threads()} threads")
    for row in training_rates(config, batches=args.batches):
        print(f"{row['precision']}: {row['tiles/s']:,.0f} tiles/s = {row['tiles/s'] * flops / 1e9:,.1f} GFLOP/s")
    print(f"matmul (2048^3): fp32 {matmul_peak(torch.float32):,.0f} GFLOP/s, bf16 {matmul_peak(torch.bfloat16):,.0f} GFLOP/s")
    run = Run.of(config)
    if run.metrics.is_file():
        for row in time_to_quality(read_metrics(run)):
            print(f"after {row['minutes']} min of training (step {row['step']}): best test MSE {row['test MSE']:.3f}")


if __name__ == "__main__":
    main()
