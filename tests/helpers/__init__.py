"""Plain helpers the tests share: tiny models, task files, run directories.

Test files import them from here (`from tests.helpers.runs import make_run`) and never from one
another or from a conftest.py: importing a test module runs its imports and collects nothing, and
a conftest is loaded by pytest under a name that depends on the directory and the import mode.
Fixtures stay in the conftest.py files, built from these helpers."""
