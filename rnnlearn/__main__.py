"""`python -m rnnlearn ...`: the rnnlearn command."""
import sys

from rnnlearn.cli import main

sys.exit(main())
