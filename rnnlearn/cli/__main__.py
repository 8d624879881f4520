"""`python -m rnnlearn.cli ...`: the rnnlearn command."""
import sys

from rnnlearn.cli import main

sys.exit(main())
