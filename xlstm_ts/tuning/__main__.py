"""``python -m xlstm_ts.tuning ...`` (same options as ``xlstm-ts tune``)."""

import sys

from xlstm_ts.tuning.cli import main

if __name__ == "__main__":
    sys.exit(main())
