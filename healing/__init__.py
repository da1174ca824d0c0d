"""novacron.healing"""
