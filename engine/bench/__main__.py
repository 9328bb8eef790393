"""`python -m engine.bench MODE ...`: `zkfle bench` without the console's mode."""

import sys

from engine.bench.cli import main

sys.exit(main())
