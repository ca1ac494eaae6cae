"""Where training and inference run, and in which precision: the config's device ("auto": CUDA when present,
else the CPU), the autocast type of `train.precision`, and the process group of a torchrun launch (one GPU per
process)."""

from __future__ import annotations

import os

import torch

from islandvae.config import Config
from islandvae.errors import UserError


def pick_device(config: Config) -> torch.device:
    """CUDA when present (or asked for), else the CPU; asking for an absent CUDA is an error."""
    wanted = config.train.device
    if wanted not in ("auto", "cpu", "cuda"):
        raise UserError(f"train.device '{wanted}' is unknown; use auto, cpu or cuda")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device("cuda" if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()) else "cpu")


def autocast_dtype(config: Config, device: torch.device) -> torch.dtype | None:
    """bfloat16 autocast on CUDA by default; on the CPU only when asked (measured slower here, bench/train_speed.py)."""
    p = config.train.precision
    if p not in ("auto", "fp32", "bf16"):
        raise UserError(f"train.precision '{p}' is unknown; use auto, fp32 or bf16")
    return torch.bfloat16 if p == "bf16" or (p == "auto" and device.type == "cuda") else None


def distributed_setup(device: torch.device) -> tuple[int, int]:
    """Rank and world size under torchrun (WORLD_SIZE set), joining the process group once; (0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return torch.distributed.get_rank(), world
