"""What ``rlxform reproduce``, ``simulate`` and ``sweep`` run: experiments and their runners.

``runner`` (the one compute -> table -> figure -> files pattern and ``@experiment``, with which
each experiment registers its configs), ``registry`` (``EXPERIMENTS``, ``run_experiment``,
``script_main``), the figure runners ``analytic``, ``simulation``, ``sequences``, ``penalties``,
``kl_trajectories``; ``simulate_run`` (``rlxform simulate``), ``sweep_config`` +
``sweep_runner`` + ``sweep_tables`` (``rlxform sweep``: TOML -> ``SweepConfig``, the chunked
runner, its tables), ``commands`` (``rlxform schemes`` / ``transforms``) and ``bench``.
"""
