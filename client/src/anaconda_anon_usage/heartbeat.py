"""``python -m anaconda_anon_usage.heartbeat --prefix PREFIX``: the activation heartbeat.

Started in the background by the activation script that the conda plugin
keeps in each environment while ``anaconda_heartbeat`` is on. It sends one
HEAD request carrying the tokens of PREFIX and gives up after 0.75 s.
"""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m anaconda_anon_usage.heartbeat")
    parser.add_argument("--prefix", required=True, help="the environment being activated")
    args = parser.parse_args(argv)
    try:
        from .plugin import heartbeat_main

        return heartbeat_main(args.prefix)
    except Exception:  # noqa: BLE001 - a background helper never complains
        return 0


if __name__ == "__main__":
    sys.exit(main())
