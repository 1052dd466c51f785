"""The CIFAR-10 CNN Flower App: the demo's workload on the message API, twin of the C++ one."""
