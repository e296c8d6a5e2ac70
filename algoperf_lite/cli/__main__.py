import sys

from algoperf_lite.cli import main

sys.exit(main())
