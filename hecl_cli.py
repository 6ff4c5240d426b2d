"""The ``hecl`` console script: starts the CLI without loading Keras/TensorFlow up front.

``import hecl_keras`` registers every Keras serializable of the library (so that
``keras.saving.load_model`` reads our ``.keras`` files after a plain import), which
loads Keras and its backend. The command line defers that until a command needs a
model, so ``hecl --help`` and argument errors answer at once.
"""

import os
import sys


def main(argv=None):
    os.environ["HECL_KERAS_DEFER_REGISTRATION"] = "1"
    from hecl_keras.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
