import sys

from hoilib.cli import main

sys.exit(main())
