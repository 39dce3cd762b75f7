"""The stack's one-shot setup and the project's shared plumbing.

    python -m setup [secrets | file-realm DIR | kibana]   # Elasticsearch and Kibana (__main__.py)
    python3 -m setup.compose doctor | wait | urls          # the compose stack's helpers
    python3 -m setup.compose_check                         # `make compose-check`

``project.py`` is the one home of what every part of the repository shares (paths, the secrets
folder, env files, shared names, ``poll_until``); it and ``compose*.py`` need only the standard
library, so they run with the host's python3 before `make install`.
"""
