import sys

from salesbench.cli import main

sys.exit(main())
