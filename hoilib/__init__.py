"""hoilib: the small library behind the hoi-book notebooks.

Notebooks stay thin and call into these modules; every loop, model and metric
lives here, where it is tested.
"""

__version__ = "0.1.0"
