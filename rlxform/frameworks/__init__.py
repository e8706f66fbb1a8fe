"""Trainers: one ``Framework`` record per RL trainer (verl, TRL, OpenRLHF, ...).

Each record holds the trainer's versions with their default tables and key classes, how its
launch commands and files are recognised, its config reader, its advantage rule and its loss
normalisations. Parsing launch files (``launch``, ``pyfile``) is pure Python, no JAX.
"""
