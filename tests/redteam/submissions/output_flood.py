"""Output flood: prints without end on stdout and stderr. Expected: output_limit_exceeded."""
import sys


def matmul_with_multi_head(input, weight, num_heads=1):
    line = "flood " * 2000 + "\n"
    while True:
        sys.stdout.write(line)
        sys.stderr.write(line)
