"""hecl-keras: hard-exudate segmentation with supervised contrastive learning (HECL)."""

import os as _os

# TensorFlow's C++ start-up chatter (oneDNN, CPU feature notes) hides real messages.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
