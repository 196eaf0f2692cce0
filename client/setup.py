"""Build step that pyproject.toml cannot declare: the start-up hook.

``anaconda_anon_usage_activation.pth`` must sit at the top of site-packages,
beside the package rather than in it, for Python to run it at start-up
(see ``anaconda_anon_usage._activation``). Everything else is in pyproject.toml.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

START_UP_HOOK = "anaconda_anon_usage_activation.pth"


class build_py_with_start_up_hook(build_py):
    def run(self):
        super().run()
        self.copy_file(os.path.join("src", START_UP_HOOK), os.path.join(self.build_lib, START_UP_HOOK),
                       preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, START_UP_HOOK)]


setup(cmdclass={"build_py": build_py_with_start_up_hook})
