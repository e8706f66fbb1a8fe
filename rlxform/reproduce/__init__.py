"""What ``rlxform reproduce`` runs: the experiment registry and its runners.

``registry`` (names -> run function and tiny / quick / full configs, ``run_experiment``,
``script_main``), ``runner`` (the one compute -> table -> figure -> files pattern), the runners
``analytic``, ``simulation``, ``sequences``, ``penalties``, and ``commands`` (the tables behind
``rlxform schemes`` and ``rlxform transforms``).
"""
