"""Islands (chapter 5, second half): islands found on whole sections from the latent space, and typed.

Takes in: the readout of `islandvae.latent` over a grid of tiles (`grid`), the pixels, and truth where it exists.
Hands on: the found islands (`finder`), their two types (`types`), the cells measured on them
(`morphology`), every feature space scored on the same islands (`features`), the whole pipeline cached
(`discovery`), the catalogue CSV (`catalogue`), chapter 5's sentences, rows and figures (`text`, `figures`),
and the checks that change one lever (`levers`) or the data (`robustness`).
"""
