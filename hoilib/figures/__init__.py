"""What a page shows: the figure style and checks, plots, the interactive figures and explorer, UMAP
fits, the landing page's headline figure and tables as a reader reads them."""
