"""`python -m sizing.validation.upstream PORT`: serve until stopped."""

import sys

from sizing.validation.upstream._server import serve

raise SystemExit(serve(int(sys.argv[1])))
