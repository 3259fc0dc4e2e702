import sys

from llm_audit.cli import main

sys.exit(main())
