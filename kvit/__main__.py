"""`python -m kvit ...`: the `kvit` command line."""

import sys

from kvit.cli import main

sys.exit(main())
