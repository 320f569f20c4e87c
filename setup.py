"""Map the top-level folders into the single import package ``tribeops``."""

from setuptools import find_packages, setup

TOP = ("core", "api", "plugins", "workers", "cli", "testing")
DATA = ("plugins.data",)  # folders of data files only, installed as packages of their own
package_dir = {}
for top in TOP:
    for name in (top, *(f"{top}.{sub}" for sub in find_packages(top))):
        package_dir[f"tribeops.{name}"] = name.replace(".", "/")
for name in DATA:
    package_dir[f"tribeops.{name}"] = name.replace(".", "/")
setup(packages=list(package_dir), package_dir=package_dir)
