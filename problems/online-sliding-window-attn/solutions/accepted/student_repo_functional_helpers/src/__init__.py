from .functional import safe_softmax, merge_lse, merge_output
