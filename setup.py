"""Package discovery over the folders that install under one import root (``storelens.edge``, ...).

pyproject.toml cannot map several top-level folders under one root and still discover what lies below them
(``[tool.setuptools.packages.find]`` would install ``api`` as ``api``), so packages and data files are found
here, from the folders themselves, with setuptools' own ``find_namespace_packages``: a new subfolder ships
without anyone editing a list, and ``tests/test_wheel.py`` fails when a file of the tree is missing from the
built wheel. Everything else about the distribution lives in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

# The product's fixed top-level folders and the import names they install as.
PACKAGE_DIR = {
    "storelens": "storelens",
    "storelens.edge": "edge",
    "storelens.models": "models",
    "storelens.gallery": "gallery",
    "storelens.api": "api",
    "storelens.hq": "hq",
    "storelens.calibration": "calibration",
    "storelens.sample_videos": "sample_videos",
}
# Data files that ship beside the code (the page, the model manifest, the sample's truth, message catalogues).
DATA = ["py.typed", "*.toml", "*.json", "*.html", "*.css", "*.js", "*.svg", "*.po", "*.mo"]
# Generated on demand, never shipped: the sample video cache, byte code.
NOT_SHIPPED = ["cache", "cache.*", "*.cache", "*.cache.*", "__pycache__", "*.__pycache__"]


def _ships(folder: Path) -> bool:
    """A folder with code, or with data files: prepared model folders (``models/<pack>/``) hold neither."""
    return (folder / "__init__.py").is_file() or any(p for pattern in DATA for p in folder.glob(pattern))


def packages() -> list[str]:
    """Each mapped folder and every folder below it that ships, under its installed name."""
    found = []
    for name, folder in PACKAGE_DIR.items():
        found.append(name)
        for sub in find_namespace_packages(where=folder, exclude=NOT_SHIPPED):
            if _ships(Path(folder, *sub.split("."))):
                found.append(f"{name}.{sub}")
    return found


setup(packages=packages(), package_dir=PACKAGE_DIR, package_data={"": DATA})
