"""Puts the Falco config templates and the default rules into the package when it is built.

They live at the top of the repository (falco_config/, rules/), where Falco users look for them;
an installed ctbridge finds its copies under bridge/_data/ (bridge/resources.py).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA = {"falco_config": "*.yaml", "rules": "*.yaml"}


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        for folder, pattern in DATA.items():
            target = Path(self.build_lib) / "bridge" / "_data" / folder
            target.mkdir(parents=True, exist_ok=True)
            for src in sorted((HERE / folder).glob(pattern)):
                self.copy_file(str(src), str(target / src.name))


setup(cmdclass={"build_py": BuildWithData})
