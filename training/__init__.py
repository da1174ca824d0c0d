"""novacron.training"""
