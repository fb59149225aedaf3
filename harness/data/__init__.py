"""Task data: task specs (tasks.py), one loader per data layout (loaders.py), and chat
templates rendered in a sandbox (chat.py)."""
