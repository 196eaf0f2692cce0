"""``python -m anaconda_anon_usage``: the command-line interface."""

from .main import main

raise SystemExit(main())
