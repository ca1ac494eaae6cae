"""Tiles (chapter 2): where training tiles come from and what they look like.

Takes in: images and pixel statistics from `islandvae.data`.
Hands on: the tissue map of every image (`tissue`), seeded tile locations by strategy and their batches
(`sampler`), a Dataset of standardised, augmented tiles (`dataset`), and what each sampling strategy does to
the training set (`sampling`).
"""
