"""Put this folder first on PYTHONPATH to run Python as on a machine without TensorFlow.

Imports of ``tensorflow`` fail as if it were not installed, and it never appears in
``sys.modules`` (Keras checks that to decide whether it runs inside a tf.data graph).
"""

import sys


class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/no_tensorflow)", name=name)
        return None


sys.meta_path.insert(0, _NoTensorFlow())
