"""The portal's pages; each module exposes one page function registered in the app module."""
