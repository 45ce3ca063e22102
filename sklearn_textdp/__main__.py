"""``python -m sklearn_textdp``: the ``textdp`` command line."""

from .cli import main

raise SystemExit(main())
