"""Models: one transformer code base shared by both labs, and vector centering."""

from gptlab.nn.centering import (
    CENTERING_MODES,
    SITES,
    CenteringConfig,
    CenteringMode,
    VectorCentering,
)
from gptlab.nn.transformer import Trace, Transformer, TransformerConfig

__all__ = [
    "CENTERING_MODES",
    "SITES",
    "CenteringConfig",
    "CenteringMode",
    "Trace",
    "Transformer",
    "TransformerConfig",
    "VectorCentering",
]
