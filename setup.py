"""The compiled parts: model/_kernel.c, the fast path's per-token work (see model/fast.py), and
service/_records.c, where CSV records end (see service/batch.py).

Optional: where no C compiler is found the build goes on without them, and the fast path uses
its numpy and plain-Python arithmetic instead, which give the same probabilities, and the batch
reader parses every CSV row in the main process, which gives the same rows.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(name, [source], optional=True, extra_compile_args=["-O2"])
        for name, source in [
            ("model._kernel", "model/_kernel.c"),
            ("service._records", "service/_records.c"),
        ]
    ]
)
