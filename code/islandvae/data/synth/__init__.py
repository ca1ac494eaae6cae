"""The synthetic stand-in for the course file (data-spec section 2).

`generate` writes a data file in exactly the real layout and a truth file beside it; the modules
follow the image from scene to pixels: cells (sprites), fields (smooth random maps), scene (tissue,
islands, vessels, cell placement), artefacts, optics (Beer-Lambert, noise, per-brain style).
"""

from islandvae.data.synth.generate import DEFAULT_DIFFICULTY, PRESETS, Options, generate, generated_as, options_of

__all__ = ["DEFAULT_DIFFICULTY", "PRESETS", "Options", "generate", "generated_as", "options_of"]
