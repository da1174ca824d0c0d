"""novacron.autoscaler: predictive and reactive scaling decisions (pure)."""
