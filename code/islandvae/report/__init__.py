"""The report: the one-page summary, the hand-in zip, and the pip-only renderer.

Takes in: every stage's cached results and saved figures (nothing here trains or analyses).
Hands on: the summary's numbers and composed figure (`summary`), the zip to hand in (`handin`), and the
rendered HTML and PDF under _output/ where `quarto` is missing (`render`).
"""
