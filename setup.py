"""The one compiled part: model/_kernel.c, the fast path's arithmetic (see model/fast.py).

Optional: where no C compiler is found the build goes on without it, and the fast path uses
its numpy and plain-Python arithmetic instead, which give the same probabilities.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("model._kernel", ["model/_kernel.c"], optional=True, extra_compile_args=["-O2"])
    ]
)
