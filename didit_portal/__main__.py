"""Entry point for ``python -m didit_portal``."""

import sys

from didit_portal.cli.main import main

sys.exit(main())
