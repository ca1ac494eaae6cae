"""islandvae: a VAE on tiles of cell-body-stained brain sections (terminal islands)."""

__version__ = "0.1.0"
