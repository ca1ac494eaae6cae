"""Where training and inference run, and in which precision: the config's device ("auto": CUDA when present,
else the CPU), the precision `train.precision` gives on that device, and the process group of a torchrun launch
(one GPU per process).

"auto" never picks a precision the device has no instructions for: bfloat16 autocast on GPUs of compute
capability 8.0 or later (A100, L4, H100: bfloat16 in hardware), float16 autocast with a gradient scaler on older
ones (T4, V100, P100: bfloat16 there is emulated, or refused), float32 on the CPU (bfloat16 autocast measured no
faster in training, and about a hundred times slower on CPUs without AVX512-BF16 or AMX; bench/train_speed.py).
Asking for a precision the device cannot run natively is an error, not a slow run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from islandvae.config import Config
from islandvae.errors import UserError
from islandvae.machine import describe_cpu, native_bf16

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BF16_CAPABILITY = (8, 0)  # Ampere: the first GPUs with bfloat16 in hardware


@dataclass(frozen=True)
class Precision:
    """The autocast type of a training run (None: float32 throughout), whether a gradient scaler guards it (float16:
    small gradients underflow without one), and why it was chosen."""

    dtype: torch.dtype | None
    scaler: bool
    why: str

    @property
    def name(self) -> str:
        if self.dtype is None:
            return "fp32"
        return {torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[self.dtype] + (
            " + gradient scaler" if self.scaler else ""
        )

    def record(self, device: torch.device) -> dict:
        """What a run's config.json keeps of where and how it trained."""
        return {"device": describe_device(device), "precision": self.name, "why": self.why}


def pick_device(config: Config) -> torch.device:
    """CUDA when present (or asked for), else the CPU; asking for an absent CUDA is an error."""
    wanted = config.train.device
    if wanted not in ("auto", "cpu", "cuda"):
        raise UserError(f"train.device '{wanted}' is unknown; use auto, cpu or cuda")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device("cuda" if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()) else "cpu")


def describe_device(device: torch.device) -> str:
    """'NVIDIA T4 (cuda:0, compute capability 7.5)' or 'CPU (AMD EPYC, 2 cores, AVX512, native bfloat16)'."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)} ({device}, compute capability {major}.{minor})"
    return f"CPU ({describe_cpu()})"


def native_bf16_gpu(device: torch.device) -> bool:
    """Whether this GPU has bfloat16 in hardware: compute capability 8.0 or later, and torch agrees without
    counting emulation."""
    return tuple(torch.cuda.get_device_capability(device)) >= BF16_CAPABILITY and torch.cuda.is_bf16_supported(
        including_emulation=False
    )


def pick_precision(config: Config, device: torch.device) -> Precision:
    """The precision of train.precision on `device`; one that the device cannot run natively is refused."""
    asked = config.train.precision
    if asked not in PRECISIONS:
        raise UserError(f"train.precision '{asked}' is unknown; use {', '.join(PRECISIONS)}")
    if asked == "fp32":
        return Precision(None, False, "asked for (train.precision = fp32)")
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        gpu = f"{torch.cuda.get_device_name(device)}, compute capability {major}.{minor}"
        if native_bf16_gpu(device) and asked in ("auto", "bf16"):
            return Precision(torch.bfloat16, False, f"bfloat16 in hardware ({gpu})")
        if asked == "bf16":
            raise UserError(
                f"train.precision 'bf16': this GPU ({gpu}) has no bfloat16 in hardware (it needs compute "
                "capability 8.0 or later); use auto (float16 with a gradient scaler here) or fp32"
            )
        return Precision(
            torch.float16,
            True,
            f"asked for ({gpu})"
            if asked == "fp16"
            else f"no bfloat16 in hardware before compute capability 8.0 ({gpu}): float16, with a gradient "
            "scaler against underflow",
        )
    if asked == "fp16":
        raise UserError("train.precision 'fp16' is for CUDA GPUs; on the CPU use auto or fp32")
    if asked == "bf16":
        if not native_bf16():
            raise UserError(
                f"train.precision 'bf16': this CPU ({describe_cpu()}) has no bfloat16 instructions "
                "(AVX512-BF16 or AMX), where bfloat16 runs about a hundred times slower; use auto or fp32"
            )
        return Precision(torch.bfloat16, False, "asked for; this CPU has bfloat16 instructions")
    return Precision(
        None, False, "the CPU default: bfloat16 autocast trained no faster than float32 (bench/train_speed.py)"
    )


def distributed_setup(device: torch.device) -> tuple[int, int]:
    """Rank and world size under torchrun (WORLD_SIZE set), joining the process group once; (0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return torch.distributed.get_rank(), world
