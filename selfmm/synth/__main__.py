"""``python -m selfmm.synth`` = ``python -m selfmm synth``."""

import sys

from selfmm.synth.cli import main

sys.exit(main())
