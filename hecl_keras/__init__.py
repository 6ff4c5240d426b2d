"""hecl-keras: hard-exudate segmentation with supervised contrastive learning (HECL)."""

import os as _os

# TensorFlow's C++ log (CPU feature notes, the absl "before InitializeLog" line, a harmless tf.data
# "NodeDef mentions attribute use_unbounded_threadpool" error on every training start) hides real
# messages; failures reach the user as Python exceptions anyway. TF_CPP_MIN_LOG_LEVEL=0 brings it back.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow's default CPU allocator hands large buffers back to the system and page-faults them in
# again at every step; once a tf.data pipeline has run, a training step spends 40 % of its time in
# the kernel (docs/RESULTS.md section 16: 1.6x slower steps). Its BFC allocator keeps them pooled.
# Read when TensorFlow allocates its first tensor: import hecl_keras before that, or export the
# variable yourself; TF_CPU_ALLOCATOR_USE_BFC=false restores TensorFlow's default.
_os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.1.0"

if _os.environ.get("HECL_KERAS_DEFER_REGISTRATION") != "1":
    # As keras_hub does: after `import hecl_keras`, keras.saving.load_model finds Segmenter & co.
    # (The `hecl` command defers this until it loads a model; see hecl_cli.py.)
    from hecl_keras.saving import register_all as _register_all

    _register_all()
