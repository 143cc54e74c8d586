"""coinfer: device-edge co-inference, after Shao & Zhang, "Communication-Computation Trade-Off in
Resource-Constrained Edge Inference", IEEE Communications Magazine, 2020 (arXiv:2006.02166).

Split a CIFAR ResNet18 between a device and an edge server (:mod:`coinfer.core.network`), measure what
each split costs (:mod:`coinfer.core.costs`), and keep every evaluated configuration as data
(:mod:`coinfer.results`).
"""

__version__ = "0.1.0"
