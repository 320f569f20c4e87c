"""Map the top-level folders into the single import package ``tribeops``."""

from setuptools import find_packages, setup

TOP = ("core", "api", "plugins", "workers", "cli", "testing")
package_dir = {}
for top in TOP:
    for name in (top, *(f"{top}.{sub}" for sub in find_packages(top))):
        package_dir[f"tribeops.{name}"] = name.replace(".", "/")
setup(packages=list(package_dir), package_dir=package_dir)
