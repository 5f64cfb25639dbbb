"""`python -m sizing`: the command-line interface."""

from sizing._cli import main

raise SystemExit(main())
