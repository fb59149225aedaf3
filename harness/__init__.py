"""sllm-bench: on-device benchmarking of small language models.

Importing this package is cheap: no backend library, numpy or pydantic is imported here.
"""

__version__ = "0.1.0"
