"""native-numpy-app: FedAvg over a numpy array, with C++ twins of both apps (test app)."""
