"""novacron.policy"""
