"""Provides the `zkfle` command line entry point."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zkfle",
        description="A terminal console for ZooKeeper's Fast Leader Election.",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    print("zkfle: console not built yet", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
