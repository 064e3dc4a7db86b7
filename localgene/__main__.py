import sys

from localgene.cli import main

sys.exit(main())
