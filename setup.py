"""Puts the Falco config templates and the default rules into the package when it is built.

They live at the top of the repository (falco_config/, rules/), where Falco users look for them;
an installed ctbridge finds its copies under bridge/_data/ (bridge/resources.py).

bridge.deliver._fastpack (bridge/deliver/_fastpack.c) is the C version of packed.py's gunzip and
fast split: optional, so a machine without a compiler installs the pure-Python package (packed.py
then uses its own code). libdeflate (the plugin's, Debian libdeflate-dev) is linked statically
when its libdeflate.a is there, so nothing new is needed at run time; without it the module
leaves gunzip to Python's zlib.
"""

import glob
from pathlib import Path

from setuptools import Extension, setup
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




def fastpack() -> Extension:
    deflate = sorted(glob.glob("/usr/lib/*/libdeflate.a") + glob.glob("/usr/lib/libdeflate.a")
                     + glob.glob("/usr/local/lib/libdeflate.a"))
    found = bool(deflate) and any(Path(d, "libdeflate.h").exists() for d in ("/usr/include", "/usr/local/include"))
    return Extension(
        "bridge.deliver._fastpack", ["bridge/deliver/_fastpack.c"], optional=True,
        extra_compile_args=["-std=gnu11"],
        define_macros=[("_GNU_SOURCE", "1")] + ([("FASTPACK_LIBDEFLATE", "1")] if found else []),
        extra_objects=deflate[:1] if found else [],
    )


setup(cmdclass={"build_py": BuildWithData}, ext_modules=[fastpack()])
