"""Keep torch to one thread: the LSTM's tiny forward passes only lose from a thread pool."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
