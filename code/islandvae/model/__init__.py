"""The model and its training (chapters 3 and 4).

Takes in: tiles and batches from `islandvae.tiles`.
Hands on: the VAE and its autoencoder twin (`vae`), a run folder runs/<name>/ with config.json, metrics.csv
and the last and best checkpoints (`train`, `runs`, `checkpoint`), the device and precision they ran in
(`device`), chapter 4's curves and reconstructions (`curves`) and the speed measured here (`speed`).
"""
