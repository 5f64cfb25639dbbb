"""`python -m sizing.validation.loadgen SPEC_JSON`: run one load point, print its result as JSON."""

from sizing.validation.loadgen._generator import main

raise SystemExit(main())
