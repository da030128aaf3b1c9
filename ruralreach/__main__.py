"""``python -m ruralreach``: the ruralreach command."""

import sys

from ruralreach.cli import main

sys.exit(main())
