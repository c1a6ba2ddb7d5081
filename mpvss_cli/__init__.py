"""The `mpvss` command line: `mpvss_cli.main` builds the parser, one module per group of subcommands.

python -m mpvss_cli eval --model tiny --data synthetic:val --method query_flow
torchrun --nproc_per_node 2 -m mpvss_cli train segmenter ...
"""

from mpvss_cli.main import main

__all__ = ["main"]
