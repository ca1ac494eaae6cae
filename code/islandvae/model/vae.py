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
TEXTURE_AREA = 4.0  # px: the blur over which band energies are averaged (band_energy)
MIN_STD = 0.05  # standardised units: about 2.4 grey levels on the stand-in; flatter tiles are not blown up


def check_model(model: ModelConfig, tile_size: int) -> None:
    """Config values the model cannot be built from: one clear message each."""
    if model.kind not in ("vae", "ae"):
        raise UserError(f"model.kind '{model.kind}' is unknown; use vae or ae")
    if not TILE_RANGE[0] <= tile_size <= TILE_RANGE[1]:
        raise UserError(f"sampling.tile_size {tile_size} is outside {TILE_RANGE[0]}..{TILE_RANGE[1]}; use e.g. 64")
    if not LATENT_RANGE[0] <= model.latent <= LATENT_RANGE[1]:
        raise UserError(f"model.latent {model.latent} is outside {LATENT_RANGE[0]}..{LATENT_RANGE[1]}; use e.g. 128")
    if model.depth < 1 or tile_size % 2**model.depth or tile_size // 2**model.depth < 2:
        raise UserError(
            f"sampling.tile_size {tile_size} cannot be halved model.depth={model.depth} times down to "
            f"at least 2 px; use a tile size divisible by {2 ** max(model.depth, 1)} or a smaller depth"
        )
    if model.width < GROUPS or model.width % GROUPS or model.max_width % GROUPS or model.max_width < model.width:
        raise UserError(
            f"model.width {model.width} and model.max_width {model.max_width} must be multiples of "
            f"{GROUPS} (GroupNorm groups) with width <= max_width; use e.g. 16 and 256"
        )
    side = tile_size // 2**model.depth
    if model.latent_map and model.latent % (side * side):
        raise UserError(
            f"model.latent {model.latent} is not a multiple of the latent map's {side} x {side} positions "
            f"(tile {tile_size}, depth {model.depth}); use a multiple of {side * side} or "
            "latent_map = false"
        )
    if model.blocks < 0:
        raise UserError(f"model.blocks {model.blocks} must be 0 or more")


def latent_channels(model: ModelConfig, tile_size: int) -> int:
    """Latent channels per position of a latent map (model.latent_map), 0 for a flat latent."""
    side = tile_size // 2**model.depth
    return model.latent // (side * side) if model.latent_map else 0


def channels(model: ModelConfig) -> list[int]:
    """Channels at the stem and after each downsampling."""
    return [min(model.width * 2**k, model.max_width) for k in range(model.depth + 1)]


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))): same shape in and out."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(GROUPS, c),
            nn.SiLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.GroupNorm(GROUPS, c),
            nn.SiLU(),
            nn.Conv2d(c, c, 3, padding=1),
        )

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
        layers += [nn.GroupNorm(GROUPS, c[-1]), nn.SiLU()]
        self.features = nn.Sequential(*layers)
        side = tile_size // 2**model.depth
        self.per_position = latent_channels(model, tile_size)
        if self.per_position:  # a latent map: the same 1x1 convolution at each of the side x side positions
            self.head = nn.Conv2d(c[-1], 2 * self.per_position, 1)
        else:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(c[-1] * side * side, 2 * model.latent))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.features(x)).float()  # (B, 2 latent) or (B, 2 c, side, side)
        mean, logvar = (part.flatten(1) for part in out.chunk(2, dim=1))  # a map flattens channel by channel
        return mean, LOGVAR_LIMIT * torch.tanh(logvar / LOGVAR_LIMIT)


class Decoder(nn.Module):
    """(B, latent) -> (B, 1, s, s) reconstructions in standardised units."""

    def __init__(self, model: ModelConfig, tile_size: int):
        super().__init__()
        check_model(model, tile_size)
        c = channels(model)
        self.side = tile_size // 2**model.depth
        self.top = c[-1]
        self.per_position = latent_channels(model, tile_size)
        if self.per_position:
            self.head = nn.Conv2d(self.per_position, c[-1], 3, padding=1)
        else:
            self.head = nn.Linear(model.latent, c[-1] * self.side * self.side)
        layers: list[nn.Module] = []
        for k in reversed(range(model.depth)):
            layers += [ResBlock(c[k + 1]) for _ in range(model.blocks)]
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c[k + 1], c[k], 3, padding=1)]
        layers += [nn.GroupNorm(GROUPS, c[0]), nn.SiLU(), nn.Conv2d(c[0], 1, 3, padding=1)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.per_position:
            h = self.head(z.view(-1, self.per_position, self.side, self.side))
        else:
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

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None, seen: torch.Tensor | None = None):
        """Reconstruction of x, latent mean, latent log-variance; `seen` is what the encoder gets instead of x
        (in training a varied or corrupted copy: sampling.imaging, sampling.corrupt), normalised by its own moments
        as every tile is at inference, while the reconstruction takes x's."""
        shift, scale = tile_moments(x) if self.config.normalise else (0.0, 1.0)
        mean, logvar = self.encode(x if seen is None else seen)
        z = mean
        if self.variational and self.training:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * noise
        return self.decoder(z) * scale + shift, mean, logvar

    def decode(self, z: torch.Tensor, shift: torch.Tensor | float = 0.0, scale: torch.Tensor | float = 1.0):
        """Tiles (B, 1, s, s) from latents; with tile normalisation, given the tiles' mean and std (default: a
        tile of mean 0 and std 1 in standardised units, the average tile's level and contrast)."""
        return self.decoder(z) * scale + shift if self.config.normalise else self.decoder(z)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and log-variance of tiles, (B, latent) each (after the tile normalisation, if on)."""
        shift, scale = tile_moments(x) if self.config.normalise else (0.0, 1.0)
        return self.encoder((x - shift) / scale)


def tile_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each tile's mean and standard deviation, (B, 1, 1, 1) each; the std floored at MIN_STD (flat glass)."""
    return x.mean(dim=(1, 2, 3), keepdim=True), x.std(dim=(1, 2, 3), keepdim=True).clamp_min(MIN_STD)


def loss_terms(
    x: torch.Tensor,
    recon: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    *,
    model: nn.Module,
    beta: float,
    l2: float,
    variational: bool = True,
    texture: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Reconstruction (squared error summed over pixels), KL to N(0, I) (summed over latent dimensions),
    both averaged over the batch; L2 = sum of squared parameters; texture = squared difference of the local
    band energies (band_energy) of reconstruction and tile, summed over pixels and bands, averaged over the
    batch. total = recon + texture weight * texture + beta * KL + l2 * L2."""
    error = recon.float() - x.float()  # the loss in float32 whatever autocast produced: in float16 (largest 65,504)
    mean, logvar = mean.float(), logvar.float()  # the KL's sum of mean^2 over 128 numbers overflows from |mean| ~ 32
    recon_term = error.pow(2).flatten(1).sum(1).mean()
    kl = (0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)).sum(1).mean() if variational else recon_term.new_zeros(())
    squares = sum(p.pow(2).sum() for p in model.parameters())
    energy = (
        (band_energy(recon.float()) - band_energy(x.float())).pow(2).flatten(1).sum(1).mean()
        if texture
        else recon_term.new_zeros(())
    )
    return {
        "recon": recon_term,
        "texture": energy,
        "kl": kl,
        "l2": squares,
        "total": recon_term + texture * energy + beta * kl + l2 * squares,
    }


def band_energy(x: torch.Tensor) -> torch.Tensor:
    """Local energy of three frequency bands of (B, 1, s, s) images: each band (the difference of Gaussian blurs
    one octave apart, at 1, 2 and 4 px) squared and blurred over TEXTURE_AREA px, (B, 3, s, s). It says how much
    structure of each size a region holds, whatever its exact position: a texture, not an image."""
    blurs = [x] + [blur(x, sigma) for sigma in (1.0, 2.0, 4.0)]
    return torch.cat([blur((a - b).pow(2), TEXTURE_AREA) for a, b in zip(blurs, blurs[1:])], dim=1)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of (B, 1, s, s) images, reflecting at the borders."""
    half = min(max(1, round(3 * sigma)), x.shape[-1] - 1)  # reflection padding needs fewer taps than pixels
    taps = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = nn.functional.conv2d(nn.functional.pad(x, (half, half, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    return nn.functional.conv2d(nn.functional.pad(x, (0, 0, half, half), mode="reflect"), kernel.view(1, 1, -1, 1))


def architecture(model: VAE) -> list[dict]:
    """One row per layer that holds parameters or changes the shape: name, output shape, parameters."""
    rows, hooks = [], []
    for part in (model.encoder, model.decoder):
        for name, module in part.named_modules():
            leaf = not list(module.children()) or isinstance(module, ResBlock)
            inside_block = any(
                isinstance(m, ResBlock) for n, m in part.named_modules() if name.startswith(n + ".") and n
            )
            if not leaf or inside_block or module is part:
                continue
            label = f"{'encoder' if part is model.encoder else 'decoder'}.{name}"

            def hook(mod, args, out, label=label):
                shape = out[0].shape if isinstance(out, tuple) else out.shape
                rows.append(
                    {
                        "layer": label,
                        "type": type(mod).__name__,
                        "output": "\u00a0\u00d7\u00a0".join(map(str, shape[1:])),
                        "parameters": sum(p.numel() for p in mod.parameters()),
                    }
                )

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
