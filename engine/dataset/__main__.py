"""``python -m engine.dataset ...``: see engine/dataset/cli.py."""
import sys

from engine.dataset.cli import main

sys.exit(main())
