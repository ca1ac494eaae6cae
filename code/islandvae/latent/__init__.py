"""The latent space (chapter 5, first half): what a trained model's codes show of the test brain.

Takes in: a run's best checkpoint from `islandvae.model` and the test brain from `islandvae.data`.
Hands on: fixed tile sets and their codes (`codes`), chapter 5's cached numbers (`analysis`), samples,
interpolations and 2-D maps (`figures`, `explorer`), and what each feature space knows about the tiles
(`measures`, against the simple classifiers of `baselines`).
"""
