"""Evaluators: tasks (data, tokenization cache, metrics), the trainer that scores one candidate
at a fidelity, workers that reuse a loaded backbone, and the in-process and Ray runners.

Nothing here imports torch at package import time; the submodules that need it import it.
"""
