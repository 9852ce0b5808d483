"""Right answer, but scribbles over its inputs afterwards. Expected: wrong_answer."""


def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    hd = h // num_heads
    out = (input.reshape(b, s, num_heads, 1, hd) @ weight.reshape(num_heads, hd, -1)).squeeze(-2)
    input.zero_()
    weight.mul_(2)
    return out
