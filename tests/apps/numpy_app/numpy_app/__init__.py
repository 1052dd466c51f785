"""numpy-app: averaging a numpy array over the federation (interop test app)."""
