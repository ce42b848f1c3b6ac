"""Shipped example configurations (package data), read with :mod:`importlib.resources`.

``demo.toml`` runs the whole pipeline on the synthetic data written by
:func:`kvklink.pipeline.prepare_demo`.
"""
