"""``python -m xlstm_ts.bench ...`` (same options as ``xlstm-ts bench``)."""

import sys

from xlstm_ts.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
