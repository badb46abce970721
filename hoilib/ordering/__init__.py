"""The ordering experiment of chapter 5: text-only consumers, bridge strength, claims and their tables.

Kept free of imports, so ``hoilib.ordering.labels`` stays light for ``hoilib grid`` and the results page.
"""
