"""The convolutional VAE and its autoencoder twin: separate Encoder and Decoder, sizes from the config.

Encoder: a 3x3 stem, then `depth` stages that each halve the tile with a strided convolution and
refine with residual blocks (GroupNorm, SiLU), then one linear layer to the latent mean and
log-variance. Decoder: the mirror image, with nearest-neighbour upsampling + convolution, and a
linear output layer (the data are standardised, so no Tanh or sigmoid). The log-variance passes
through a soft clamp to [-LOGVAR_LIMIT, LOGVAR_LIMIT], so exp() can neither overflow nor vanish.
"""

from __future__ import annotations

import torch
from torch import nn

from islandvae.config import ModelConfig
from islandvae.errors import UserError

LOGVAR_LIMIT = 8.0
GROUPS = 8
TILE_RANGE = (32, 256)
LATENT_RANGE = (2, 4096)


def check_model(model: ModelConfig, tile_size: int) -> None:
    """Config values the model cannot be built from: one clear message each."""
    if model.kind not in ("vae", "ae"):
        raise UserError(f"model.kind '{model.kind}' is unknown; use vae or ae")
    if not TILE_RANGE[0] <= tile_size <= TILE_RANGE[1]:
        raise UserError(f"sampling.tile_size {tile_size} is outside {TILE_RANGE[0]}..{TILE_RANGE[1]}; use e.g. 64")
    if not LATENT_RANGE[0] <= model.latent <= LATENT_RANGE[1]:
        raise UserError(f"model.latent {model.latent} is outside {LATENT_RANGE[0]}..{LATENT_RANGE[1]}; use e.g. 128")
    if model.depth < 1 or tile_size % 2**model.depth or tile_size // 2**model.depth < 2:
        raise UserError(f"sampling.tile_size {tile_size} cannot be halved model.depth={model.depth} times down to "
                        f"at least 2 px; use a tile size divisible by {2**max(model.depth, 1)} or a smaller depth")
    if model.width < GROUPS or model.width % GROUPS or model.max_width % GROUPS or model.max_width < model.width:
        raise UserError(f"model.width {model.width} and model.max_width {model.max_width} must be multiples of "
                        f"{GROUPS} (GroupNorm groups) with width <= max_width; use e.g. 16 and 256")
    if model.blocks < 0:
        raise UserError(f"model.blocks {model.blocks} must be 0 or more")


def channels(model: ModelConfig) -> list[int]:
    """Channels at the stem and after each downsampling."""
    return [min(model.width * 2**k, model.max_width) for k in range(model.depth + 1)]


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))): same shape in and out."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(GROUPS, c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1),
                                  nn.GroupNorm(GROUPS, c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Encoder(nn.Module):
    """(B, 1, s, s) standardised tiles -> latent mean and log-variance, each (B, latent)."""

    def __init__(self, model: ModelConfig, tile_size: int):
        super().__init__()
        check_model(model, tile_size)
        c = channels(model)
        layers: list[nn.Module] = [nn.Conv2d(1, c[0], 3, padding=1)]
        for k in range(model.depth):
            layers.append(nn.Conv2d(c[k], c[k + 1], 3, stride=2, padding=1))
            layers += [ResBlock(c[k + 1]) for _ in range(model.blocks)]
        layers += [nn.GroupNorm(GROUPS, c[-1]), nn.SiLU(), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        side = tile_size // 2**model.depth
        self.head = nn.Linear(c[-1] * side * side, 2 * model.latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.head(self.features(x)).float().chunk(2, dim=1)
        return mean, LOGVAR_LIMIT * torch.tanh(logvar / LOGVAR_LIMIT)


class Decoder(nn.Module):
    """(B, latent) -> (B, 1, s, s) reconstructions in standardised units."""

    def __init__(self, model: ModelConfig, tile_size: int):
        super().__init__()
        check_model(model, tile_size)
        c = channels(model)
        self.side = tile_size // 2**model.depth
        self.top = c[-1]
        self.head = nn.Linear(model.latent, c[-1] * self.side * self.side)
        layers: list[nn.Module] = []
        for k in reversed(range(model.depth)):
            layers += [ResBlock(c[k + 1]) for _ in range(model.blocks)]
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c[k + 1], c[k], 3, padding=1)]
        layers += [nn.GroupNorm(GROUPS, c[0]), nn.SiLU(), nn.Conv2d(c[0], 1, 3, padding=1)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(-1, self.top, self.side, self.side)
        return self.body(h).float()


class VAE(nn.Module):
    """Encoder + reparameterised sample + Decoder. With kind 'ae' the sample is the mean (no noise, no KL)."""

    def __init__(self, model: ModelConfig, tile_size: int):
        super().__init__()
        self.config, self.tile_size = model, tile_size
        self.encoder = Encoder(model, tile_size)
        self.decoder = Decoder(model, tile_size)

    @property
    def variational(self) -> bool:
        return self.config.kind == "vae"

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Reconstruction, latent mean, latent log-variance."""
        mean, logvar = self.encoder(x)
        z = mean
        if self.variational and self.training:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * noise
        return self.decoder(z), mean, logvar


def loss_terms(x: torch.Tensor, recon: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, *,
               model: nn.Module, beta: float, l2: float, variational: bool = True) -> dict[str, torch.Tensor]:
    """Reconstruction (squared error summed over pixels), KL to N(0, I) (summed over latent dimensions),
    both averaged over the batch; L2 = sum of squared parameters; total = recon + beta * KL + l2 * L2."""
    recon_term = (recon.float() - x.float()).pow(2).flatten(1).sum(1).mean()
    kl = (0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)).sum(1).mean() if variational else recon_term.new_zeros(())
    squares = sum(p.pow(2).sum() for p in model.parameters())
    return {"recon": recon_term, "kl": kl, "l2": squares, "total": recon_term + beta * kl + l2 * squares}


def architecture(model: VAE) -> list[dict]:
    """One row per layer that holds parameters or changes the shape: name, output shape, parameters."""
    rows, hooks = [], []
    for part in (model.encoder, model.decoder):
        for name, module in part.named_modules():
            leaf = not list(module.children()) or isinstance(module, ResBlock)
            inside_block = any(isinstance(m, ResBlock) for n, m in part.named_modules() if name.startswith(n + ".") and n)
            if not leaf or inside_block or module is part:
                continue
            label = f"{'encoder' if part is model.encoder else 'decoder'}.{name}"

            def hook(mod, args, out, label=label):
                shape = out[0].shape if isinstance(out, tuple) else out.shape
                rows.append({"layer": label, "type": type(mod).__name__, "output": " x ".join(map(str, shape[1:])),
                             "parameters": sum(p.numel() for p in mod.parameters())})
            hooks.append(module.register_forward_hook(hook))
    try:
        was = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 1, model.tile_size, model.tile_size, device=next(model.parameters()).device))
        model.train(was)
    finally:
        for h in hooks:
            h.remove()
    return rows
