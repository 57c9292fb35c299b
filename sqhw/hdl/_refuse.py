"""Components that refuse their arguments should not also warn that they were never used."""

import functools


def refusing(init):
    """Wrap a Component.__init__: when it raises, silence Amaranth's UnusedElaboratable."""

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except Exception:
            self._MustUse__silence = True  # refused, so never meant to be elaborated
            raise

    return wrapper
