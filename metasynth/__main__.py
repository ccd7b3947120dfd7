import sys

from metasynth.cli import main

sys.exit(main())
