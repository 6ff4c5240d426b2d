"""hecl-keras: hard-exudate segmentation with supervised contrastive learning (HECL)."""

__version__ = "0.1.0"
