"""Package discovery: pyproject.toml cannot combine `packages.find` with folder mappings.

`xlstm_ts*` packages are found automatically; `kernels/`, `datasets/` and `configs/` are
mapped to import names inside the distribution (see `package-dir` in pyproject.toml).
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["xlstm_ts", "xlstm_ts.*"])
    + ["xlstm_ts_kernels", "xlstm_ts._datasets", "xlstm_ts._configs"],
)
