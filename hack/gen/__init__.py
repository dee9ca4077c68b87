"""Generators of the packaging files: RBAC, the OLM bundle and the configuration reference.

`python -m hack.gen` writes every file it owns; `--check` fails on any stale one (`make verify`).
Nothing here is shipped in the wheel: it reads the repository (models, config/, kubectl).
"""
