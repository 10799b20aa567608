"""gptlab: a laboratory for small-transformer experiments.

from gptlab import GrokConfig, grok, load_run, replace_flat   # see gptlab.api
"""

__version__ = "0.1.0"

_API = ("Run", "grok", "center", "load_run", "GrokConfig", "CenterConfig", "replace_flat")


def __getattr__(name: str):
    # the API imports torch and both labs: only when it is asked for, so `gptlab --help`
    # and `import gptlab.config` stay light
    if name in _API:
        from gptlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'gptlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
