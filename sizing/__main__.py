"""`python -m sizing`: the command-line interface."""

from sizing.cli import main

raise SystemExit(main())
