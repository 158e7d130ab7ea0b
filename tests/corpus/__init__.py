"""The bad-input corpus (issue #10): bad, odd and hostile inputs with their precise expectations.

``python -m tests.corpus`` runs every case and prints a table; ``tests/test_corpus.py``
runs each case as one pytest test. See docs/reliability.md for the promises checked.
"""
