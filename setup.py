"""Build the one C extension (exact distance transform); everything else is in pyproject."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rclicks._edt", ["rclicks/_edt.c"], extra_compile_args=["-O3", "-fno-math-errno"])])
