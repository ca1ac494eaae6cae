"""The file (chapter 1): a data file of the course layout, read and described.

Takes in: the config's data file (or makes the synthetic stand-in, `synth/`, with its truth file beside it).
Hands on: the inventory and the images in RAM or lazily (`hdf5`), the training brains' pixel statistics
(`stats`), the truth where there is one (`truth`: island masks, artefact flags, tile labels), and chapter 1's
figures and tables (`exploration`, `calibration` against the course file's published figures).
"""
