# TIME LIMIT: correct, but written with Python loops. forward computes every output entry as
# its own dot product (b*h*e tiny torch calls) and backward walks rows and
# weight rows one at a time.
# Instant on the small tests, hundreds of times slower than a vectorised layer on the timed
# b=8, h=64, d=e=256 test.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.d, self.e = in_dim, out_dim
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype) * 0.05
        self.W_grad = None
        self.x = None

    def forward(self, x):
        self.x = x
        rows = x.reshape(-1, self.d)
        y = torch.empty(rows.shape[0], self.e, dtype=x.dtype, device=x.device)
        for r in range(rows.shape[0]):
            for j in range(self.e):
                y[r, j] = torch.dot(rows[r], self.W[:, j])
        return y.reshape(*x.shape[:-1], self.e)

    def backward(self, grad_output):
        xs = self.x.reshape(-1, self.d)
        gs = grad_output.reshape(-1, self.e)
        gi = torch.empty(gs.shape[0], self.d, dtype=gs.dtype, device=gs.device)
        wg = torch.empty(self.d, self.e, dtype=gs.dtype, device=gs.device)
        for r in range(gs.shape[0]):
            gi[r] = torch.mv(self.W, gs[r])
        for i in range(self.d):
            wg[i] = torch.mv(gs.T, xs[:, i])
        self.W_grad = wg
        return gi.reshape(*grad_output.shape[:-1], self.d)

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad
