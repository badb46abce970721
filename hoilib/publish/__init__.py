"""Publishing a run: the book build and its generated pages, the results table, the stored numbers
(pins and the published record) and ``hoilib verify``."""
